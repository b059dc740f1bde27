"""The ``msc3895`` and ``msc3902`` configuration sections."""

import attr

from msc_extensions.config_reader import SectionReader
from msc_extensions.partial_state.errcodes import ERRCODE_BY_CHOICE

DEFAULT_RESYNC_INTERVAL_MS = 60 * 1000
DEFAULT_MAX_RESYNC_INTERVAL_MS = 60 * 60 * 1000


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


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Msc3902Config:
    enabled: bool = True
    #: The first wait after a failed resync, and the floor of the back-off.
    resync_interval_ms: int = DEFAULT_RESYNC_INTERVAL_MS
    #: The ceiling of the per-room back-off.
    max_resync_interval_ms: int = DEFAULT_MAX_RESYNC_INTERVAL_MS

    @classmethod
    def from_section(cls, reader: SectionReader) -> "Msc3902Config":
        interval = reader.read_duration_ms(
            "resync_interval", DEFAULT_RESYNC_INTERVAL_MS, minimum_ms=100
        )
        maximum = reader.read_duration_ms(
            "max_resync_interval", max(DEFAULT_MAX_RESYNC_INTERVAL_MS, interval)
        )
        if maximum < interval:
            raise reader.error(
                "max_resync_interval",
                f"must be at least resync_interval ({interval} ms), got {maximum} ms",
            )
        config = cls(
            enabled=reader.read_bool("enabled", True),
            resync_interval_ms=interval,
            max_resync_interval_ms=maximum,
        )
        reader.finish()
        return config
