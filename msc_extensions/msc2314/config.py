"""The ``msc2314`` configuration section."""

from typing import Any

import attr

from msc_extensions.config_reader import SectionReader

DEFAULT_CACHE_WINDOW_MS = 60 * 1000
DEFAULT_RECOVERY_WAIT_MS = 5 * 1000


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Msc2314Config:
    enabled: bool = True
    #: Whether ``/_matrix/federation/v1/state`` and ``/state_ids`` answer without
    #: ``event_id``. When false they answer as stock Synapse (400
    #: ``M_MISSING_PARAM``); the unstable paths still answer.
    v1_without_event_id: bool = True
    #: How long an answer stays cached after it was computed. The cache is keyed on
    #: the room's forward extremities, so a new event makes the next request
    #: compute afresh whatever this says.
    cache_window_ms: int = DEFAULT_CACHE_WINDOW_MS
    #: Current-state requests each origin server may make, per second and in a
    #: burst, on top of Synapse's federation rate limits.
    rate_per_second: float = 1.0
    rate_burst_count: int = 10
    #: How long ``POST .../recover`` waits for the recovery before answering 202.
    recovery_wait_ms: int = DEFAULT_RECOVERY_WAIT_MS

    @classmethod
    def from_section(cls, reader: SectionReader) -> "Msc2314Config":
        rate_limit = reader.section("rate_limit")
        config = cls(
            enabled=reader.read_bool("enabled", True),
            v1_without_event_id=reader.read_bool("v1_without_event_id", True),
            cache_window_ms=reader.read_duration_ms(
                "cache_window", DEFAULT_CACHE_WINDOW_MS
            ),
            rate_per_second=rate_limit.read_float("per_second", 1.0, minimum=0.001),
            rate_burst_count=rate_limit.read_int("burst_count", 10, minimum=1),
            recovery_wait_ms=reader.read_duration_ms(
                "recovery_wait", DEFAULT_RECOVERY_WAIT_MS, minimum_ms=0
            ),
        )
        rate_limit.finish()
        reader.finish()
        return config

    def as_section(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "v1_without_event_id": self.v1_without_event_id,
            "cache_window": self.cache_window_ms,
            "rate_limit": {
                "per_second": self.rate_per_second,
                "burst_count": self.rate_burst_count,
            },
            "recovery_wait": self.recovery_wait_ms,
        }
