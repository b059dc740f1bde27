# Shared by scripts-dev/demo and scripts-dev/test: creates or reuses .venv/ at the
# repository root with the package (editable), Synapse and the tools installed.
# Re-installs only when setup.cfg or pyproject.toml changed since the last install.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO_ROOT/.venv"

# pip, quietly; on failure its whole output is shown and the call fails.
_pip() {
    local log
    log=$(mktemp)
    if ! "$VENV/bin/python" -m pip "$@" >"$log" 2>&1; then
        grep -v '^WARNING: Location' "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

ensure_venv() {
    local python=${PYTHON:-python3}
    if [ ! -x "$VENV/bin/python" ]; then
        echo "Creating $VENV" >&2
        "$python" -m venv "$VENV" || return 1
    fi
    local stamp="$VENV/.msc_extensions-installed"
    local wanted
    wanted=$(cat "$REPO_ROOT/setup.cfg" "$REPO_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        echo "Installing msc_extensions, Synapse and the test tools into $VENV" >&2
        # uv installs the same packages in a fraction of pip's time (a fresh clone's
        # first demo is ready in seconds rather than a minute); pip is the fallback.
        if _pip install --quiet uv; then
            "$VENV/bin/python" -m uv pip install --quiet --python "$VENV/bin/python" \
                -e "$REPO_ROOT[test,lint]" tox tox-uv || return 1
        else
            _pip install --quiet -e "$REPO_ROOT[test,lint]" tox || return 1
        fi
        "$VENV/bin/python" -c "import synapse, msc_extensions" || return 1
        echo "$wanted" > "$stamp"
    fi
}

# The servers the end-to-end tests start besides Synapse: PostgreSQL (workers need it),
# Redis (workers talk to the main process through it) and Prometheus with promtool
# (the monitoring test scrapes a homeserver and checks the shipped dashboard and
# alert rules). Installed from Debian's packages when missing and this runs as root;
# otherwise the tests that need them skip and say why.
ensure_test_servers() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    { command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing ${missing[*]} from Debian's packages" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1 \
            || echo "Could not install ${missing[*]}; tests that need them will skip" >&2
    else
        echo "Missing ${missing[*]}; tests that need them will skip" >&2
    fi
}
