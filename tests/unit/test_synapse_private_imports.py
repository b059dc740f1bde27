"""``msc_extensions._synapse_private`` offers Synapse's primitives and decides
nothing for a feature: it imports nothing from the rest of the package."""

import ast
from pathlib import Path

from twisted.trial import unittest

import msc_extensions._synapse_private as synapse_private

PACKAGE = "msc_extensions"
PRIVATE = "msc_extensions._synapse_private"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a module of the package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative to this package (a module of it is never a package).
                base = ".".join(PRIVATE.split(".")[: 3 - node.level])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


class SynapsePrivateImportsTestCase(unittest.TestCase):
    def test_imports_nothing_from_the_rest_of_the_package(self) -> None:
        directory = Path(synapse_private.__file__).parent
        files = sorted(directory.glob("*.py"))
        self.assertGreater(len(files), 1)
        offending = [
            f"{path.name}:{line}: {module}"
            for path in files
            for line, module in imported_modules(path)
            if (module == PACKAGE or module.startswith(f"{PACKAGE}."))
            and not (module == PRIVATE or module.startswith(f"{PRIVATE}."))
        ]
        self.assertEqual(offending, [])
