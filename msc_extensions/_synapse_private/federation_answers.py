"""The answers Synapse gives on the federation endpoints the module takes over, and
the pieces to build the module's own.

What this file relies on, and why:

1. ``FederationServer.on_pdu_request(origin, event_id)`` and
   ``FederationServer.on_event_auth(origin, room_id, event_id)``: what Synapse's own
   ``/event`` and ``/event_auth`` servlets answer.
2. ``RoomSummaryHandler.get_federation_hierarchy(origin, room_id, suggested_only)``:
   what Synapse's own ``/hierarchy`` servlet answers. For a room that is not a
   space it needs no more than the non-member state, so it answers for a
   partial-state room at once (before 1.156.0 it waited for full state, which
   :func:`.compat.federation_hierarchy_without_full_state` changes).
3. ``FederationServer.check_server_matches_acl(host, room_id)`` and
   ``parse_server_name``: the room's server ACLs, as Synapse applies them.
4. ``FederationHandler.on_event_auth``: an event's auth chain, read from the store
   only (no state is needed; its signature changed in 1.158.0, which
   :func:`.compat.event_auth_chain` bridges), and ``EventBase.get_pdu_json``.
5. ``timeout_deferred`` and ``stop_cancellation`` from
   ``synapse.util.async_helpers``, with the logcontext helpers: a time limit on
   Synapse's hierarchy answer. Synapse's hierarchy servlet is not ``@cancellable``,
   so its computation is left to finish in the background rather than cancelled
   midway.
"""

from collections.abc import Iterable
from typing import Any

from synapse.events import EventBase
from synapse.logging.context import make_deferred_yieldable, run_in_background
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.async_helpers import stop_cancellation, timeout_deferred
from synapse.util.stringutils import parse_server_name
from twisted.internet import defer

from msc_extensions._synapse_private.compat import (
    event_auth_chain,
    federation_hierarchy_without_full_state,
)

__all__ = ["FederationAnswers"]


class FederationAnswers:
    """Synapse's own answers to federation requests, and what the module's answers
    are made of."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._clock = hs.get_clock()
        federation_hierarchy_without_full_state(hs)

    # (1)
    async def builtin_event(self, origin: str, event_id: str) -> tuple[int, Any]:
        return await self._hs.get_federation_server().on_pdu_request(origin, event_id)

    async def builtin_event_auth(
        self, origin: str, room_id: str, event_id: str
    ) -> tuple[int, JsonDict]:
        return await self._hs.get_federation_server().on_event_auth(
            origin, room_id, event_id
        )

    # (2) and (5)
    async def builtin_hierarchy(
        self,
        origin: str,
        room_id: str,
        suggested_only: bool,
        timeout_s: float | None = None,
    ) -> JsonDict | None:
        """Synapse's answer; None if it took longer than ``timeout_s`` (Synapse's
        computation then finishes in the background, unobserved)."""
        answer: defer.Deferred[JsonDict] = run_in_background(
            self._hs.get_room_summary_handler().get_federation_hierarchy,
            origin,
            room_id,
            suggested_only,
        )
        if timeout_s is None:
            return await make_deferred_yieldable(answer)
        try:
            return await make_deferred_yieldable(
                timeout_deferred(
                    deferred=stop_cancellation(answer),
                    timeout=timeout_s,
                    clock=self._clock,
                )
            )
        except defer.TimeoutError:
            return None

    # (3)
    async def check_acl(self, origin: str, room_id: str) -> None:
        """Raise Synapse's 403 if the room's server ACLs deny ``origin``."""
        host, _ = parse_server_name(origin)
        await self._hs.get_federation_server().check_server_matches_acl(host, room_id)

    # (4)
    def transaction_of(self, events: Iterable[EventBase]) -> JsonDict:
        """A transaction carrying ``events``, as Synapse's ``/event`` answers."""
        now = self._clock.time_msec()
        return {
            "origin": self._hs.hostname,
            "origin_server_ts": now,
            "pdus": [e.get_pdu_json(now) for e in events],
        }

    async def auth_chain_json(self, room_id: str, event_id: str) -> list[JsonDict]:
        events = await event_auth_chain(self._hs, room_id, event_id)
        now = self._clock.time_msec()
        return [e.get_pdu_json(now) for e in events]
