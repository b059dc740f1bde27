"""The ``msc3895`` configuration section."""

from typing import Any

import attr

from msc_extensions.config_reader import SectionReader
from msc_extensions.partial_state.errcodes import ERRCODE_BY_CHOICE


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Msc3895Config:
    enabled: bool = True
    #: ``"unstable"`` or ``"stable"``; see :data:`ERRCODE_BY_CHOICE`.
    errcode_choice: str = "unstable"

    @property
    def errcode(self) -> str:
        """The error code this server sends while a room is partial-state."""
        return ERRCODE_BY_CHOICE[self.errcode_choice]

    @classmethod
    def from_section(cls, reader: SectionReader) -> "Msc3895Config":
        config = cls(
            enabled=reader.read_bool("enabled", True),
            errcode_choice=reader.read_choice(
                "errcode", "unstable", tuple(ERRCODE_BY_CHOICE)
            ),
        )
        reader.finish()
        return config

    def as_section(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "errcode": self.errcode_choice}
