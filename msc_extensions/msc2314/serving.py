"""The serving side: a room's current state and its auth chain, for a server in it.

Every answer is refused, in this order:

1. 404 ``M_NOT_FOUND`` for a room this server does not know;
2. 403 with the MSC3895 code while the room is partial-state here (the current
   state held here is incomplete);
3. 403 ``M_FORBIDDEN`` when the origin has no joined member in the room;
4. 403 ``M_FORBIDDEN`` when the room's server ACLs deny the origin;
5. 429 ``M_LIMIT_EXCEEDED`` when the origin asks too often (``msc2314.rate_limit``).

``/state`` answers are computed once per room and set of forward extremities: a
repeat between two new events, or a request that arrives while the same answer is
being computed, gets the very bytes of the first answer. ``/state_ids`` answers are
cached in the same way, as JSON objects (they are small).
"""

from collections.abc import Sequence

from synapse.api.errors import AuthError, NotFoundError
from synapse.module_api import EventBase
from synapse.types import JsonDict

from msc_extensions._synapse_private.current_state import (
    AnswerCache,
    CurrentStateReads,
    EncodedJson,
    encode_off_reactor,
)
from msc_extensions._synapse_private.federation_answers import FederationAnswers
from msc_extensions._synapse_private.ratelimiting import OriginRatelimiter
from msc_extensions._synapse_private.resources import HomeServer
from msc_extensions.msc2314.config import Msc2314Config
from msc_extensions.msc2314.metrics import CurrentStateMetrics
from msc_extensions.partial_state.service import PartialStateService

#: Events read from the store at a time: each batch's work on the reactor (events
#: made from rows) stays short even for rooms of tens of thousands of members.
EVENT_BATCH = 500


class CurrentStateServer:
    """Answers ``/state`` and ``/state_ids`` without an event ID."""

    def __init__(
        self,
        hs: HomeServer,
        config: Msc2314Config,
        partial_state: PartialStateService,
    ) -> None:
        self._hs = hs
        self._reads = CurrentStateReads(hs)
        self._answers = FederationAnswers(hs)
        self._partial_state = partial_state
        self._state_cache = AnswerCache(
            hs, "msc2314_current_state", config.cache_window_ms
        )
        self._state_ids_cache = AnswerCache(
            hs, "msc2314_current_state_ids", config.cache_window_ms
        )
        self._metrics = CurrentStateMetrics(hs.hostname)
        self._ratelimiter = OriginRatelimiter(
            hs, "msc2314_current_state", config.rate_per_second, config.rate_burst_count
        )

    async def state(self, origin: str, room_id: str) -> EncodedJson:
        """``{room_version, pdus, auth_chain}``, encoded."""
        with self._metrics.answering("state"):
            room_version = await self._check_access(origin, room_id)
            extremities = await self._reads.forward_extremities(room_id)
            return await self._state_cache.get_or_compute(
                (room_id, extremities),
                lambda: self._compute_state(room_id, room_version),
            )

    async def state_ids(self, origin: str, room_id: str) -> JsonDict:
        """``{room_version, pdu_ids, auth_chain_ids}``."""
        with self._metrics.answering("state_ids"):
            room_version = await self._check_access(origin, room_id)
            extremities = await self._reads.forward_extremities(room_id)
            return await self._state_ids_cache.get_or_compute(
                (room_id, extremities),
                lambda: self._compute_state_ids(room_id, room_version),
            )

    async def room_version_of(self, room_id: str) -> str:
        version = await self._reads.room_version(room_id)
        if version is None:
            raise NotFoundError(f"Unknown room {room_id}")
        return version

    async def _check_access(self, origin: str, room_id: str) -> str:
        room_version = await self.room_version_of(room_id)
        await self._partial_state.refuse_if_partial(room_id)
        if not await self._reads.is_host_in_room(room_id, origin):
            raise AuthError(403, "Host not in room.")
        await self._answers.check_acl(origin, room_id)
        await self._ratelimiter.ratelimit(origin)
        return room_version

    async def _compute_state_ids(self, room_id: str, room_version: str) -> JsonDict:
        self._metrics.computed("state_ids")
        state_ids = await self._reads.current_state_ids(room_id)
        auth_chain_ids = await self._reads.auth_chain_ids(room_id, state_ids)
        return {
            "room_version": room_version,
            "pdu_ids": state_ids,
            "auth_chain_ids": auth_chain_ids,
        }

    async def _compute_state(self, room_id: str, room_version: str) -> EncodedJson:
        self._metrics.computed("state")
        state_ids = await self._reads.current_state_ids(room_id)
        auth_chain_ids = await self._reads.auth_chain_ids(room_id, state_ids)
        state = await self._events(state_ids)
        auth_chain = await self._events(auth_chain_ids)
        return await encode_off_reactor(
            self._hs,
            {"room_version": room_version},
            {"pdus": state, "auth_chain": auth_chain},
        )

    async def _events(self, event_ids: Sequence[str]) -> list[EventBase]:
        events: list[EventBase] = []
        for start in range(0, len(event_ids), EVENT_BATCH):
            events += await self._reads.events(event_ids[start : start + EVENT_BATCH])
        return events
