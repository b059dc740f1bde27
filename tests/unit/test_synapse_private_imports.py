"""``msc_extensions._synapse_private`` imports nothing from the rest of the module:
it offers Synapse-neutral primitives, and the features build on them."""

import ast
from pathlib import Path

from twisted.trial import unittest

import msc_extensions._synapse_private

PACKAGE = "msc_extensions._synapse_private"

#: Modules not yet clean, and why. MSC3192's batch items move out of ``events`` in
#: that proposal's own refactor; delete the entry then.
NOT_YET_CLEAN = {"events"}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved in the package."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # A relative import from this package: one dot is the package itself.
            base = PACKAGE.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            if node.module:
                found.add(module)
            else:  # "from . import x": x is a module
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


class SynapsePrivateImportsTestCase(unittest.TestCase):
    def test_imports_nothing_from_the_rest_of_the_module(self) -> None:
        directory = Path(msc_extensions._synapse_private.__file__).parent
        checked = 0
        for path in sorted(directory.glob("*.py")):
            if path.stem in NOT_YET_CLEAN:
                continue
            checked += 1
            outside = sorted(
                name
                for name in imported_modules(path)
                if (name == "msc_extensions" or name.startswith("msc_extensions."))
                and not (name == PACKAGE or name.startswith(PACKAGE + "."))
            )
            self.assertEqual(outside, [], f"{path.name} imports {outside}")
        self.assertGreater(checked, 1)

    def test_the_check_sees_relative_and_absolute_imports(self) -> None:
        # The walk itself: a module of the package importing a feature is caught.
        source = Path(self.mktemp())
        source.write_text(
            "from msc_extensions.feature import Feature\n"
            "from .. import registry\n"
            "from . import resources\n"
        )
        self.assertEqual(
            imported_modules(source),
            {
                "msc_extensions.feature",
                "msc_extensions.registry",
                "msc_extensions._synapse_private.resources",
            },
        )
