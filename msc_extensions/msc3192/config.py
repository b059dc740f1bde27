"""The ``msc3192`` config section: the batch state endpoint's limits."""

from typing import Any

import attr

from msc_extensions.config_reader import SectionReader

#: The proposal's cap: a federation transaction carries at most 50 PDUs.
MAX_EVENTS_CAP = 50

#: Synapse refuses events whose JSON is over 64 KiB, so 50 of them, plus the
#: request's own framing, fit in this.
DEFAULT_MAX_BODY_BYTES = MAX_EVENTS_CAP * 65536 + 65536

#: The rate limiter's name, as module rate-limit callbacks see it.
RATE_LIMITER_NAME = "msc3192.batch_state"


DEFAULT_PER_SECOND = 0.5
DEFAULT_BURST_COUNT = 5


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RateLimitConfig:
    """Synapse's leaky bucket; one batch request costs one action, whatever its
    size. Per-user overrides (``ratelimit_override`` table, admin API, module
    callbacks keyed by :data:`RATE_LIMITER_NAME`) apply."""

    per_second: float = DEFAULT_PER_SECOND
    burst_count: int = DEFAULT_BURST_COUNT

    @classmethod
    def from_section(cls, reader: SectionReader) -> "RateLimitConfig":
        config = cls(
            per_second=reader.read_float(
                "per_second", DEFAULT_PER_SECOND, minimum=0.001
            ),
            burst_count=reader.read_int("burst_count", DEFAULT_BURST_COUNT, minimum=1),
        )
        reader.finish()
        return config

    def as_section(self) -> dict[str, Any]:
        return {"per_second": self.per_second, "burst_count": self.burst_count}


DEFAULT_REMOTE_CONCURRENCY = 10
DEFAULT_REMOTE_TIMEOUT_MS = 10_000


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RemoteInvitesConfig:
    """How a batch asks other servers about its invitees: their profiles, then
    their signatures on the invites. ``concurrency`` requests at most are in
    flight at once, across all servers; each waits at most ``timeout_ms``."""

    concurrency: int = DEFAULT_REMOTE_CONCURRENCY
    timeout_ms: int = DEFAULT_REMOTE_TIMEOUT_MS

    @classmethod
    def from_section(cls, reader: SectionReader) -> "RemoteInvitesConfig":
        config = cls(
            concurrency=reader.read_int(
                "concurrency",
                DEFAULT_REMOTE_CONCURRENCY,
                minimum=1,
                maximum=MAX_EVENTS_CAP,
            ),
            timeout_ms=reader.read_duration_ms(
                "timeout", DEFAULT_REMOTE_TIMEOUT_MS, minimum_ms=100
            ),
        )
        reader.finish()
        return config

    def as_section(self) -> dict[str, Any]:
        return {"concurrency": self.concurrency, "timeout": self.timeout_ms}


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Msc3192Config:
    enabled: bool = True
    max_events: int = MAX_EVENTS_CAP
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate_limit: RateLimitConfig = RateLimitConfig()
    remote_invites: RemoteInvitesConfig = RemoteInvitesConfig()

    @classmethod
    def from_section(cls, reader: SectionReader) -> "Msc3192Config":
        config = cls(
            enabled=reader.read_bool("enabled", True),
            max_events=reader.read_int(
                "max_events", MAX_EVENTS_CAP, minimum=1, maximum=MAX_EVENTS_CAP
            ),
            max_body_bytes=reader.read_int(
                "max_body_bytes", DEFAULT_MAX_BODY_BYTES, minimum=1024
            ),
            rate_limit=RateLimitConfig.from_section(reader.section("rate_limit")),
            remote_invites=RemoteInvitesConfig.from_section(
                reader.section("remote_invites")
            ),
        )
        reader.finish()
        return config

    def as_section(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_events": self.max_events,
            "max_body_bytes": self.max_body_bytes,
            "rate_limit": self.rate_limit.as_section(),
            "remote_invites": self.remote_invites.as_section(),
        }
