# Shared by scripts-dev/demo and scripts-dev/test: creates or reuses .venv/ at the
# repository root with the package (editable), Synapse and the tools installed.
# Re-installs only when setup.cfg changed since the last install.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO_ROOT/.venv"

ensure_venv() {
    local python=${PYTHON:-python3}
    if [ ! -x "$VENV/bin/python" ]; then
        echo "Creating $VENV" >&2
        "$python" -m venv "$VENV"
    fi
    local stamp="$VENV/.msc_extensions-installed"
    local wanted
    wanted=$(cat "$REPO_ROOT/setup.cfg" "$REPO_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        echo "Installing msc_extensions, Synapse and the test tools into $VENV" >&2
        "$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2
        "$VENV/bin/python" -m pip install --quiet -e "$REPO_ROOT[test,lint]" tox 2>&1 \
            | grep -v '^WARNING: Location' >&2
        "$VENV/bin/python" -c "import synapse, msc_extensions" || return 1
        echo "$wanted" > "$stamp"
    fi
}
