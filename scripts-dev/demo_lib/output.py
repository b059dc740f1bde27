"""What the demo prints: sections of notes and commands.

Every command is one line that starts with ``$ `` after its indentation, complete
(tokens, room IDs and paths written out), so it can be pasted as it is; the
end-to-end test (``tests/e2e/test_demo.py``) finds them by that prefix and runs each.
"""

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def python() -> str:
    """The interpreter running the demo, which has Synapse installed."""
    return shown(Path(sys.executable))


def venv_script(name: str) -> str:
    """A console script installed next to :func:`python` (Synapse's tools)."""
    return shown(Path(sys.executable).parent / name)


def bearer(token: str) -> list[str]:
    return ["-H", f"Authorization: Bearer {token}"]


@dataclass(frozen=True)
class Command:
    #: What it shows, and what it answers.
    what: str
    argv: Sequence[str]
    #: The commands its output is piped through, in order, e.g. ``[["grep", "^x"]]``.
    pipe: Sequence[Sequence[str]] = ()

    @property
    def line(self) -> str:
        return " | ".join(shlex.join(stage) for stage in (self.argv, *self.pipe))


@dataclass(frozen=True)
class Section:
    title: str
    notes: Sequence[str] = ()
    commands: Sequence[Command] = field(default_factory=list)


def render(sections: Sequence[Section]) -> str:
    lines: list[str] = []
    for section in sections:
        lines += ["", section.title]
        lines += ["  " + note for note in section.notes]
        for command in section.commands:
            lines += ["  " + command.what, "    $ " + command.line]
    return "\n".join(lines)


def say(text: str = "") -> None:
    print(text, flush=True)


def complain(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
