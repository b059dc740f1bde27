"""The documents' examples are what the module accepts, and the admin guide's
commands are each run by a test or marked untested.

Every ``yaml`` block in the README and ``docs/`` is loaded through the module's
config parser. In the documents an admin copies from (the README, the admin guide,
the configuration manual and the demo's page) each is a ``homeserver.yaml``
excerpt with one ``modules:`` entry for ``msc_extensions.MscExtensions``, whose
``config`` is parsed; the proposals' own pages show bare sections, parsed as the
module's ``config``.
"""

from pathlib import Path
from typing import Any

import yaml
from synapse.module_api.errors import ConfigError
from twisted.trial import unittest

from msc_extensions import MscExtensions
from tests.unit.doc_blocks import (
    ADMIN_GUIDE,
    COMMAND_LANGUAGES,
    REPO_ROOT,
    Block,
    fenced_blocks,
)

MODULE = "msc_extensions.MscExtensions"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
#: Documents whose YAML examples are whole ``modules:`` entries.
HOMESERVER_YAML_DOCS = {
    REPO_ROOT / "README.md",
    ADMIN_GUIDE,
    REPO_ROOT / "docs" / "configuration.md",
    REPO_ROOT / "docs" / "demo.md",
}
#: Documents whose YAML examples configure Synapse or Prometheus, not the module:
#: they must parse as YAML; tests/e2e/test_monitoring.py runs the same settings.
OTHER_YAML_DOCS = {REPO_ROOT / "docs" / "monitoring.md"}
#: Languages of blocks that are neither configuration nor commands.
SHOWN_ONLY = frozenset({"", "json", "python"})


def module_config_of(block: Block) -> Any:
    """The msc_extensions ``config`` the block gives."""
    loaded = yaml.safe_load(block.text)
    if block.path in OTHER_YAML_DOCS:
        return None
    if block.path not in HOMESERVER_YAML_DOCS:
        return loaded
    if not isinstance(loaded, dict) or set(loaded) != {"modules"}:
        raise AssertionError(f"{block.where}: not a `modules:` excerpt: {loaded!r}")
    entries = [entry for entry in loaded["modules"] if entry.get("module") == MODULE]
    if len(entries) != 1:
        raise AssertionError(f"{block.where}: {len(entries)} entries of {MODULE}")
    return entries[0].get("config")


class YamlExamplesTestCase(unittest.TestCase):
    def test_every_yaml_example_is_accepted_by_the_parser(self) -> None:
        counted: dict[Path, int] = {}
        for path in [REPO_ROOT / "README.md", *DOCS]:
            for block in fenced_blocks(path):
                if block.language != "yaml":
                    continue
                try:
                    MscExtensions.parse_config(module_config_of(block) or {})
                except ConfigError as e:
                    raise AssertionError(f"{block.where}: {e}") from e
                counted[path] = counted.get(path, 0) + 1
        # The parser found the blocks this test is about.
        self.assertGreaterEqual(counted.get(ADMIN_GUIDE, 0), 3)
        self.assertGreaterEqual(
            counted.get(REPO_ROOT / "docs" / "configuration.md", 0), 6
        )

    def test_a_bad_example_would_be_caught(self) -> None:
        block = Block(
            ADMIN_GUIDE,
            1,
            "yaml",
            f"modules:\n  - module: {MODULE}\n    config:\n"
            "      msc3192:\n        rate_limit:\n          per_second: 0.0005\n",
            None,
        )
        with self.assertRaises(ConfigError):
            MscExtensions.parse_config(module_config_of(block))


class GuideCommandsTestCase(unittest.TestCase):
    def test_every_command_block_is_run_by_a_test_or_marked_untested(self) -> None:
        blocks = fenced_blocks(ADMIN_GUIDE)
        commands = [b for b in blocks if b.language in COMMAND_LANGUAGES]
        self.assertGreaterEqual(len(commands), 10)
        for block in blocks:
            self.assertIn(
                block.language,
                COMMAND_LANGUAGES | SHOWN_ONLY | {"yaml"},
                f"{block.where}: a ```{block.language} block; is it a command?",
            )
        for block in commands:
            self.assertIsNotNone(
                block.marker,
                f"{block.where}: a command block needs <!-- test: NAME --> or "
                "<!-- untested: REASON --> on the line before it",
            )

    def test_markers_are_only_on_command_blocks(self) -> None:
        for block in fenced_blocks(ADMIN_GUIDE):
            if block.marker is not None:
                self.assertIn(block.language, COMMAND_LANGUAGES, block.where)

    def test_untested_commands_say_so_in_the_text(self) -> None:
        text = ADMIN_GUIDE.read_text(encoding="utf-8")
        untested = [
            b
            for b in fenced_blocks(ADMIN_GUIDE)
            if b.marker is not None and b.marker[0] == "untested"
        ]
        self.assertGreaterEqual(len(untested), 2)
        # The reader does not see the marker; each such section says it in words.
        self.assertGreaterEqual(text.count("**Untested here**"), 2)

    def test_the_readme_installs_with_the_guide_s_tested_command(self) -> None:
        readme = [
            b.text
            for b in fenced_blocks(REPO_ROOT / "README.md")
            if b.language == "sh" and "install --no-deps" in b.text
        ]
        guide = [
            b.text
            for b in fenced_blocks(ADMIN_GUIDE)
            if b.marker == ("test", "install-checkout")
        ]
        self.assertEqual(readme, guide)
