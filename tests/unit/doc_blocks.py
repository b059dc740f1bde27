"""The fenced blocks of the project's Markdown documents, each with its marker.

A block of commands in ``docs/admin-guide.md`` is preceded by a marker, an HTML
comment on the line before its opening fence, which the rendered page does not
show:

- ``<!-- test: NAME -->``: ``tests/e2e/test_admin_guide.py`` runs the block and
  checks its answer with the check called NAME;
- ``<!-- untested: REASON -->``: no test runs it (the page says so in its text).
"""

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_GUIDE = REPO_ROOT / "docs" / "admin-guide.md"

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>\S*)\s*$")
_MARKER = re.compile(r"^<!-- (?P<kind>test|untested): (?P<value>.+?) -->$")

#: The languages of blocks that are commands to run.
COMMAND_LANGUAGES = frozenset({"sh", "sql", "dockerfile"})


@dataclass(frozen=True)
class Block:
    path: Path
    #: The line of the opening fence, counting from 1.
    line: int
    language: str
    text: str
    #: ``("test", name)``, ``("untested", reason)`` or None.
    marker: tuple[str, str] | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, in order, indentation removed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        end = index + 1
        while lines[end].strip() != "```":
            end += 1
        text = "\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n"
        blocks.append(
            Block(path, index + 1, opening["language"], text, _marker(lines, index))
        )
        index = end + 1
    return blocks


def _marker(lines: list[str], fence: int) -> tuple[str, str] | None:
    before = fence - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    if before < 0:
        return None
    found = _MARKER.match(lines[before].strip())
    return (found["kind"], found["value"]) if found else None


def tested_blocks(path: Path = ADMIN_GUIDE) -> dict[str, list[Block]]:
    """The blocks of ``path`` that a test runs, by check name."""
    named: dict[str, list[Block]] = {}
    for block in fenced_blocks(path):
        if block.marker is not None and block.marker[0] == "test":
            named.setdefault(block.marker[1], []).append(block)
    return named
