"""The package's layers, checked by walking every import in its source.

- ``_synapse_private`` is the adapter to Synapse's internals: it knows no feature and
  imports nothing from the rest of the package.
- The core (what every feature builds on) imports no feature package.
- A feature package imports no other feature package; shared code lives in the core
  or in the shared packages (``partial_state``, ``transactions``).
- Only the wiring (``module``, ``registry``) knows every feature.
- Outside ``_synapse_private`` the package imports of Synapse only what Synapse
  offers modules and servlet authors (:data:`PUBLIC_SYNAPSE`).
"""

import ast
from collections.abc import Iterator
from pathlib import Path

from twisted.trial import unittest

import msc_extensions

PACKAGE = "msc_extensions"
ROOT = Path(msc_extensions.__file__).resolve().parent
ADAPTER = "_synapse_private"
SHARED = {"partial_state", "transactions"}
WIRING = {"module", "registry", "__init__"}

#: What Synapse offers modules and servlet authors, and ``synapse`` itself for
#: ``synapse.__version__``.
PUBLIC_SYNAPSE = {
    "synapse",
    "synapse.api.constants",
    "synapse.api.errors",
    "synapse.http.servlet",
    "synapse.http.site",
    "synapse.module_api",
    "synapse.module_api.errors",
    "synapse.types",
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join((PACKAGE, *parts)), path


def imported_names(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, wherever the import statement stands
    (functions and ``TYPE_CHECKING`` blocks included), relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def top_part(module: str) -> str | None:
    """The first part below the package: ``msc3192`` for
    ``msc_extensions.msc3192.handler``; None outside the package."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 else ""


def feature_packages() -> set[str]:
    return (
        {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
        - SHARED
        - {ADAPTER}
    )


class ImportLayersTestCase(unittest.TestCase):
    def arrows(self) -> Iterator[tuple[str, str, str, str]]:
        """(importer, its part, imported, its part) for imports within the package."""
        for name, path in modules():
            source = top_part(name)
            assert source is not None
            for imported in imported_names(name, path):
                target = top_part(imported)
                if target is not None and target != source:
                    yield name, source, imported, target

    def test_the_walk_sees_imports(self) -> None:
        # Guards the checks below against a walk that finds nothing.
        seen = {(source, target) for _, source, _, target in self.arrows()}
        self.assertIn(("module", "registry"), seen)
        self.assertIn(("msc3192", ADAPTER), seen)

    def test_synapse_private_imports_nothing_else_of_the_package(self) -> None:
        wrong = [
            f"{name} imports {imported}"
            for name, source, imported, target in self.arrows()
            if source == ADAPTER and target != ADAPTER
        ]
        self.assertEqual(wrong, [])

    def test_features_import_no_other_feature(self) -> None:
        features = feature_packages()
        self.assertIn("msc3192", features)
        wrong = [
            f"{name} imports {imported}"
            for name, source, imported, target in self.arrows()
            if source in features and target in features
        ]
        self.assertEqual(wrong, [])

    def test_core_and_shared_code_import_no_feature(self) -> None:
        features = feature_packages()
        wrong = [
            f"{name} imports {imported}"
            for name, source, imported, target in self.arrows()
            if source not in features | WIRING and target in features
        ]
        self.assertEqual(wrong, [])

    def test_only_the_adapter_uses_synapse_internals(self) -> None:
        wrong = []
        for name, path in modules():
            if top_part(name) == ADAPTER:
                continue
            for imported in imported_names(name, path):
                if imported.split(".")[0] != "synapse":
                    continue
                # "from synapse.types import JsonDict" yields both the module and
                # the module's attribute; the module is what counts. Nothing is
                # taken from the top-level package but itself.
                parent = imported.rpartition(".")[0]
                if imported in PUBLIC_SYNAPSE or (
                    parent in PUBLIC_SYNAPSE and parent != "synapse"
                ):
                    continue
                wrong.append(f"{name} imports {imported}")
        self.assertEqual(wrong, [])
