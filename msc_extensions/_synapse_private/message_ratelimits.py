"""Private APIs for rate limiting as ``PUT /send`` is.

What this file relies on, and why:

1. ``hs.get_request_ratelimiter()`` (``RequestRatelimiter``): the ``rc_message``
   limit ``/send`` applies, with admin redactions and per-user overrides; its
   ``ratelimit(requester)`` raises ``LimitExceededError`` (429).
2. ``hs.config.ratelimiting.rc_message`` (``RatelimitSettings``): the limit's rate and
   burst, for a limiter of the same size under another name.
"""

from synapse.server import HomeServer

from msc_extensions._synapse_private.compat import Requester
from msc_extensions._synapse_private.ratelimiting import UserRatelimiter


class MessageRatelimits:
    """``rc_message``, as ``/send`` takes it, and a limiter of the same size for
    requests that create nothing but cost as much."""

    def __init__(self, hs: HomeServer, name: str) -> None:
        self._send = hs.get_request_ratelimiter()
        settings = hs.config.ratelimiting.rc_message
        self._named = UserRatelimiter(
            hs, name, per_second=settings.per_second, burst_count=settings.burst_count
        )

    async def ratelimit_send(self, requester: Requester) -> None:
        """Take one ``/send`` action (429 when over)."""
        await self._send.ratelimit(requester)

    async def ratelimit_named(self, requester: Requester) -> None:
        """Take one action of the named limiter (429 when over)."""
        await self._named.ratelimit(requester)
