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

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

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

#: Events read from the store at a time. Synapse makes a batch's events from their
#: rows (parsing, checking each event ID against its hash) in one go on the
#: reactor: 200 keep that well under 100 ms even on a loaded machine, where 500
#: took up to 150 ms.
EVENT_BATCH = 200

T = TypeVar("T")


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
        # Only the encoder keeps the events: it frees them on its thread.
        return await encode_off_reactor(
            self._hs,
            {"room_version": room_version},
            await self._state_and_auth_chain(room_id, state_ids),
        )

    async def _state_and_auth_chain(
        self, room_id: str, state_ids: Sequence[str]
    ) -> dict[str, list[EventBase]]:
        """``{"pdus": the state events, "auth_chain": their auth chain}``.

        The auth chain is walked from the few distinct auth events that the state
        events name (``include_given``), not from the tens of thousands of state
        events themselves: the same events, for a fraction of the database work.
        Auth-chain events that are state events too are not read twice.
        """
        state: list[EventBase] = []
        auth_event_ids: set[str] = set()
        for batch in batches(state_ids, EVENT_BATCH):
            events = await self._reads.events(batch)
            state += events
            auth_event_ids.update(auth_events_of(events))
        auth_chain_ids = await self._reads.auth_chain_ids(
            room_id, auth_event_ids, include_given=True
        )
        in_state = {event.event_id: event for event in state}
        auth_chain = [in_state[i] for i in auth_chain_ids if i in in_state]
        for batch in batches(
            [i for i in auth_chain_ids if i not in in_state], EVENT_BATCH
        ):
            auth_chain += await self._reads.events(batch)
        return {"pdus": state, "auth_chain": auth_chain}


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def auth_events_of(events: Iterable[EventBase]) -> set[str]:
    """The IDs of the auth events that ``events`` name."""
    return {auth_id for event in events for auth_id in event.auth_event_ids()}
