"""Private APIs for rate limiting a module's own actions.

What this file relies on:

1. ``synapse.api.ratelimiting.Ratelimiter`` with ``RatelimitSettings(key,
   per_second, burst_count)``: Synapse's leaky bucket, per user by default. Its
   ``ratelimit(requester)`` raises ``LimitExceededError`` (429 with
   ``retry_after_ms``), skips users whose limits an admin has switched off
   (``ratelimit_override``) and application services with ``rate_limited: false``,
   and asks the module rate-limit callbacks
   (``hs.get_module_api_callbacks().ratelimit``), which see the limiter by ``key``.
2. The same ``Ratelimiter`` keyed by an arbitrary hashable rather than a user
   (``ratelimit(None, key=...)``), with ``pause=None`` so that it refuses at once
   rather than delaying the request first. With no requester it asks neither the
   per-user overrides nor the module callbacks.
"""

from synapse.api.ratelimiting import Ratelimiter
from synapse.config.ratelimiting import RatelimitSettings
from synapse.server import HomeServer

from msc_extensions._synapse_private.compat import Requester


def _ratelimiter(
    hs: HomeServer, name: str, per_second: float, burst_count: int
) -> Ratelimiter:
    """(1) Synapse's limiter named ``name``, with the module rate-limit callbacks."""
    return Ratelimiter(
        store=hs.get_datastores().main,
        clock=hs.get_clock(),
        cfg=RatelimitSettings(key=name, per_second=per_second, burst_count=burst_count),
        ratelimit_callbacks=hs.get_module_api_callbacks().ratelimit,
    )


class UserRatelimiter:
    """(1) A named rate limit, one bucket per user."""

    def __init__(
        self, hs: HomeServer, name: str, per_second: float, burst_count: int
    ) -> None:
        self._ratelimiter = _ratelimiter(hs, name, per_second, burst_count)

    async def ratelimit(self, requester: Requester) -> None:
        """Takes one action; raises ``LimitExceededError`` (429, ``retry_after_ms``)
        when over."""
        await self._ratelimiter.ratelimit(requester)


class OriginRatelimiter:
    """(2) A named rate limit, one bucket per origin server (for federation
    requests, on top of Synapse's own federation rate limits)."""

    def __init__(
        self, hs: HomeServer, name: str, per_second: float, burst_count: int
    ) -> None:
        self._ratelimiter = _ratelimiter(hs, name, per_second, burst_count)

    async def ratelimit(self, origin: str) -> None:
        """Takes one request from ``origin``; raises ``LimitExceededError`` (429,
        ``retry_after_ms``) when over."""
        await self._ratelimiter.ratelimit(None, key=origin, pause=None)
