"""The ``msc3902`` configuration section."""

from typing import Any

import attr

from msc_extensions.config_reader import SectionReader

DEFAULT_RESYNC_INTERVAL_MS = 60 * 1000
DEFAULT_MAX_RESYNC_INTERVAL_MS = 60 * 60 * 1000


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

    def as_section(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "resync_interval": self.resync_interval_ms,
            "max_resync_interval": self.max_resync_interval_ms,
        }
