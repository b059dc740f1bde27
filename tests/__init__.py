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

Code that needs none of the harness (the real-homeserver fixture in ``tests.e2e``,
which the benchmarks use too) imports without it; importing a harness module when
the harness has not been fetched fails with a message that says how to fetch it.
"""

import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

_OUR_DIR = Path(__file__).resolve().parent
_OURS = {p.stem for p in _OUR_DIR.iterdir() if p.name != "__init__.py"}


def _harness_dir() -> Path:
    override = os.environ.get("SYNAPSE_HARNESS_DIR")
    if override:
        return Path(override) / "tests"
    version = importlib.metadata.version("matrix-synapse")
    return _OUR_DIR.parent / ".cache" / "synapse-harness" / version / "tests"


class _HarnessNotFetched(importlib.abc.MetaPathFinder):
    """Turns the import of a harness module into an error that says what to do."""

    def __init__(self, harness_dir: Path) -> None:
        self._harness_dir = harness_dir

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        parts = fullname.split(".")
        if parts[0] == __name__ and len(parts) > 1 and parts[1] not in _OURS:
            raise ImportError(
                f"{fullname} is Synapse's test harness, which is not at "
                f"{self._harness_dir}; run `python scripts-dev/fetch_harness.py` "
                "(scripts-dev/test does it)"
            )
        return None


def _join_harness(harness_dir: Path) -> None:
    theirs = {p.stem for p in harness_dir.iterdir()}
    clashes = (_OURS & theirs) - {"__pycache__"}
    if clashes:
        raise ImportError(f"tests/ shadows Synapse harness modules: {sorted(clashes)}")
    __path__.append(str(harness_dir))
    # The harness's own package initialisation (it patches inlineCallbacks checks and
    # sets trial's default timeout) runs as if Synapse's ``tests`` package were
    # being imported.
    harness_init = harness_dir / "__init__.py"
    exec(compile(harness_init.read_text(), str(harness_init), "exec"), globals())


_HARNESS_DIR = _harness_dir()
if (_HARNESS_DIR / "unittest.py").is_file():
    _join_harness(_HARNESS_DIR)
else:
    sys.meta_path.insert(0, _HarnessNotFetched(_HARNESS_DIR))
