"""msc_extensions' tests, layered over Synapse's own test harness.

Synapse's harness is a package called ``tests`` too (``tests.unittest``,
``tests.server``, ...), and it is not in the wheel: ``scripts-dev/fetch_harness.py``
fetches it from the sdist of the installed Synapse into
``.cache/synapse-harness/<version>/tests``. This package spans both directories:
our own first, then the harness's. So ``tests.unittest`` is Synapse's module while
``tests.integration`` is ours. Our top-level names (``unit``, ``integration``,
``e2e``) must never be names the harness uses; the check below makes a clash an
import error rather than a silently shadowed module. Run our tests by naming our
subpackages (``trial tests.unit tests.integration tests.e2e``), never ``trial tests``,
which would also walk the whole harness. See docs/development.md.
"""

import importlib.metadata
import os
from pathlib import Path

_OUR_DIR = Path(__file__).resolve().parent


def _harness_dir() -> Path:
    override = os.environ.get("SYNAPSE_HARNESS_DIR")
    if override:
        return Path(override) / "tests"
    version = importlib.metadata.version("matrix-synapse")
    return _OUR_DIR.parent / ".cache" / "synapse-harness" / version / "tests"


_HARNESS_DIR = _harness_dir()
if not (_HARNESS_DIR / "unittest.py").is_file():
    raise ImportError(
        f"Synapse's test harness is not at {_HARNESS_DIR}; "
        "run `python scripts-dev/fetch_harness.py` (scripts-dev/test does it)"
    )

_ours = {p.stem for p in _OUR_DIR.iterdir() if p.name != "__init__.py"}
_theirs = {p.stem for p in _HARNESS_DIR.iterdir()}
_clashes = (_ours & _theirs) - {"__pycache__"}
if _clashes:
    raise ImportError(f"tests/ shadows Synapse harness modules: {sorted(_clashes)}")

__path__.append(str(_HARNESS_DIR))

# The harness's own package initialisation (it patches inlineCallbacks checks and sets
# trial's default timeout) runs as if Synapse's ``tests`` package were being imported.
_harness_init = _HARNESS_DIR / "__init__.py"
exec(compile(_harness_init.read_text(), str(_harness_init), "exec"))
