"""What Synapse records of other servers, and asking one past Synapse's back-off.

What this file relies on, and why:

1. ``DataStore.get_destination_retry_timings`` and
   ``DataStore.set_destination_retry_timings(destination, None, 0, 0)``: Synapse's
   retry back-off of a destination (the ``destinations`` table), read to order and
   probe destinations, cleared to undo a back-off Synapse records for a request the
   module cancelled. The setter is an upsert that always applies a cleared record.
2. ``hs.get_federation_http_client().get_json(..., ignore_backoff=True)``: a probe
   of a destination in retry back-off. A success clears Synapse's back-off for it
   (``RetryDestinationLimiter`` resets the timings on success).
3. ``DataStore.get_destination_last_successful_stream_ordering``: the stream
   position of the last event a destination acknowledged. The federation sender
   writes it after each transaction, from whichever process sends federation.
4. ``synapse.util.retryutils.NotRetryingDestination``: what Synapse raises instead
   of contacting a destination in retry back-off.
"""

from typing import Any

from synapse.server import HomeServer
from synapse.util.retryutils import NotRetryingDestination

__all__ = ["Destinations", "NotRetryingDestination"]

#: What the probe asks for: every homeserver answers it, without authentication.
_PROBE_PATH = "/_matrix/federation/v1/version"


class Destinations:
    """One homeserver's view of the servers it federates with."""

    def __init__(self, hs: HomeServer) -> None:
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main
        self._clock = hs.get_clock()
        self._http_client = hs.get_federation_http_client()

    # (1)
    async def backed_off_until_ms(self, destination: str) -> int | None:
        """When Synapse's retry back-off from ``destination`` ends; None if it is
        not backed off now."""
        timings = await self._store.get_destination_retry_timings(destination)
        if not timings or not timings.retry_last_ts:
            return None
        until = int(timings.retry_last_ts + timings.retry_interval)
        return until if until > self._clock.time_msec() else None

    async def clear_retry_backoff(self, destination: str) -> None:
        await self._store.set_destination_retry_timings(destination, None, 0, 0)

    # (2)
    async def probe(self, destination: str, timeout_ms: int) -> None:
        """Ask the destination for its version, ignoring Synapse's back-off. A success
        clears that back-off. Raises on failure."""
        await self._http_client.get_json(
            destination, _PROBE_PATH, timeout=timeout_ms, ignore_backoff=True
        )

    # (3)
    async def delivered_up_to(self, destination: str) -> int:
        """The stream position of the last event ``destination`` acknowledged."""
        position = await self._store.get_destination_last_successful_stream_ordering(
            destination
        )
        return int(position or 0)
