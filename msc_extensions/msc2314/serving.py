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
from synapse.types import JsonDict

from msc_extensions._synapse_private.current_state import (
    AnswerCache,
    CurrentStateReads,
    EncodedJson,
    join_off_reactor,
)
from msc_extensions._synapse_private.federation_answers import FederationAnswers
from msc_extensions._synapse_private.ratelimiting import OriginRatelimiter
from msc_extensions._synapse_private.resources import HomeServer
from msc_extensions._synapse_private.stored_pdus import StoredPdus
from msc_extensions.msc2314.config import Msc2314Config
from msc_extensions.msc2314.metrics import CurrentStateMetrics
from msc_extensions.partial_state.service import PartialStateService


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
        self._pdus = StoredPdus(hs)
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
        return await join_off_reactor(
            self._hs,
            {"room_version": room_version},
            await self._state_and_auth_chain(room_id, state_ids),
        )

    async def _state_and_auth_chain(
        self, room_id: str, state_ids: Sequence[str]
    ) -> dict[str, list[bytes]]:
        """``{"pdus": the state events, "auth_chain": their auth chain}``, as PDU
        JSON.

        The auth chain is walked from the few distinct auth events that the state
        events name (``include_given``), not from the tens of thousands of state
        events themselves: the same events, for a fraction of the database work.
        Auth-chain events that are state events too are not read twice.
        """
        state = await self._pdus.read(state_ids)
        auth_chain_ids = await self._reads.auth_chain_ids(
            room_id, state.auth_event_ids, include_given=True
        )
        others = await self._pdus.read(
            [event_id for event_id in auth_chain_ids if event_id not in state.pdus]
        )
        auth_chain = [
            pdu
            for event_id in auth_chain_ids
            if (pdu := state.pdus.get(event_id) or others.pdus.get(event_id))
        ]
        return {"pdus": list(state.pdus.values()), "auth_chain": auth_chain}
