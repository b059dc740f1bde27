"""Private APIs for serving a room's current state and its auth chain (MSC2314).

What this file relies on, and why:

1. ``RoomWorkerStore.get_room_version_id`` (raises ``NotFoundError`` for a room
   this server does not know), ``EventFederationWorkerStore.
   get_latest_event_ids_in_room`` (the forward extremities, cached) and
   ``get_auth_chain_ids`` (with ``include_given``: the given events too),
   ``StateStorageController.get_current_state_ids`` and
   ``EventsWorkerStore.get_events_as_list`` (which makes a batch's events from
   their rows in one go on the reactor): the reads Synapse's own ``/state`` makes,
   at the room's current state rather than at an event. All of them work on
   workers.
2. ``EventAuthHandler.is_host_in_room``: whether a server has a joined member in
   the room's current state, as Synapse's own ``/state`` decides it.
3. ``FederationServer.on_room_state_request`` and ``on_state_ids_request``: what
   Synapse's own ``/state`` and ``/state_ids`` answer when an event ID is given.
4. ``synapse.federation.units.serialize_and_filter_pdus``: how Synapse's ``/state``
   turns events into PDUs.
5. ``synapse.util.json.json_encoder`` (what ``respond_with_json`` uses when the
   resource is not canonical), ``defer_to_thread`` and ``respond_with_json_bytes``:
   encoding a large answer on a thread, as Synapse does for every JSON answer,
   and sending bytes encoded earlier.
6. ``ResponseCache`` (built by :func:`.compat.response_cache`: its keep time
   changed type in 1.149.0): one computation per key for concurrent requests, kept
   for a while after it completes.
7. ``BaseFederationServlet._wrap(func)``: the wrapper that authenticates a
   request and rate-limits its origin before calling ``on_<METHOD>``; it returns
   what ``func`` returns, and ``None`` means the answer was written already.
"""

import functools
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping, Sequence
from typing import Any, TypeVar, cast

from synapse.api.errors import NotFoundError
from synapse.events import EventBase
from synapse.federation.units import serialize_and_filter_pdus
from synapse.http.server import respond_with_json_bytes
from synapse.http.site import SynapseRequest
from synapse.logging.context import defer_to_thread
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.caches.response_cache import ResponseCache
from synapse.util.json import json_encoder

from msc_extensions._synapse_private.compat import response_cache
from msc_extensions._synapse_private.resources import FederationServlet

__all__ = [
    "AnswerCache",
    "CurrentStateReads",
    "EncodedJson",
    "FederationServletWithEncodedAnswers",
    "encode_off_reactor",
]

#: PDUs made and encoded in one go when encoding an answer: about 100 kB of JSON,
#: a millisecond or so of the GIL at a time.
PDUS_PER_ENCODE = 100

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class CurrentStateReads:
    """(1)-(3) What a current-state answer is read from."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main
        self._state = hs.get_storage_controllers().state

    async def room_version(self, room_id: str) -> str | None:
        """The room's version; None for a room this server does not know."""
        try:
            version: str = await self._store.get_room_version_id(room_id)
        except NotFoundError:
            return None
        return version

    async def forward_extremities(self, room_id: str) -> frozenset[str]:
        return frozenset(await self._store.get_latest_event_ids_in_room(room_id))

    async def is_host_in_room(self, room_id: str, host: str) -> bool:
        return bool(
            await self._hs.get_event_auth_handler().is_host_in_room(room_id, host)
        )

    async def current_state_ids(self, room_id: str) -> list[str]:
        state = await self._state.get_current_state_ids(room_id)
        return list(state.values())

    async def auth_chain_ids(
        self, room_id: str, event_ids: Collection[str], include_given: bool = False
    ) -> list[str]:
        """Every event reachable from ``event_ids`` through auth events; with
        ``include_given``, ``event_ids`` themselves too."""
        return list(
            await self._store.get_auth_chain_ids(
                room_id, event_ids, include_given=include_given
            )
        )

    async def events(self, event_ids: Sequence[str]) -> list[EventBase]:
        events: list[EventBase] = await self._store.get_events_as_list(event_ids)
        return events

    async def builtin_state(
        self, origin: str, room_id: str, event_id: str
    ) -> tuple[int, JsonDict]:
        return await self._hs.get_federation_server().on_room_state_request(
            origin, room_id, event_id
        )

    async def builtin_state_ids(
        self, origin: str, room_id: str, event_id: str
    ) -> tuple[int, JsonDict]:
        return await self._hs.get_federation_server().on_state_ids_request(
            origin, room_id, event_id
        )


class EncodedJson:
    """A JSON answer encoded already: sent as these bytes."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __len__(self) -> int:
        return len(self.body)


async def encode_off_reactor(
    hs: HomeServer, fields: JsonDict, event_lists: Mapping[str, list[EventBase]]
) -> EncodedJson:
    """(4, 5) A JSON object of ``fields`` and, for each of ``event_lists``, a list
    of PDUs as Synapse's ``/state`` serialises them, encoded on a thread of the
    reactor's pool.

    The PDUs are made and encoded :data:`PDUS_PER_ENCODE` at a time: one call of the
    C encoder over a whole answer holds the GIL from start to end (over 100 ms for
    20,000 events), and with it the reactor; between two short calls the reactor
    gets its turn.

    The lists are emptied on the thread, a chunk at a time, once encoded: when the
    caller holds no other reference to them, tens of thousands of events are freed
    there rather than in one go on the reactor (which took a few hundred ms).
    """

    def run() -> bytes:
        parts = [json_encoder.encode(fields)[:-1].encode("utf-8")]
        separator = b"," if fields else b""
        for name, events in event_lists.items():
            parts.append(separator + json_encoder.encode(name).encode("utf-8") + b":[")
            chunks = []
            for start in range(0, len(events), PDUS_PER_ENCODE):
                pdus = serialize_and_filter_pdus(
                    events[start : start + PDUS_PER_ENCODE]
                )
                if pdus:
                    chunks.append(json_encoder.encode(pdus)[1:-1].encode("utf-8"))
            parts.append(b",".join(chunks))
            parts.append(b"]")
            separator = b","
        parts.append(b"}")
        for events in event_lists.values():
            while events:
                del events[-PDUS_PER_ENCODE:]
        return b"".join(parts)

    body: bytes = await defer_to_thread(hs.get_reactor(), run)
    return EncodedJson(body)


class AnswerCache:
    """(6) Answers by key: concurrent requests share one computation, and the
    result is kept for ``window_ms`` after it completes."""

    def __init__(self, hs: HomeServer, name: str, window_ms: int) -> None:
        self._cache: ResponseCache[Hashable] = response_cache(hs, name, window_ms)

    async def get_or_compute(
        self, key: Hashable, compute: Callable[[], Awaitable[T]]
    ) -> T:
        result: T = await self._cache.wrap(key, compute)
        return result


class FederationServletWithEncodedAnswers(FederationServlet):
    """(7) A federation servlet whose ``on_<METHOD>`` may answer
    ``(code, EncodedJson)``: those bytes are sent as they are."""

    def _wrap(self, func: Callable[..., Awaitable[tuple[int, Any]]]) -> Any:
        synapse_wrapped = cast(
            Callable[..., Awaitable[tuple[int, Any] | None]], super()._wrap(func)
        )

        # Wrapped as Synapse wraps ``func``, so that the route leads back to this
        # servlet's ``on_<METHOD>`` (``inspect.unwrap``).
        @functools.wraps(synapse_wrapped)
        async def send_encoded(
            request: SynapseRequest, *args: Any, **kwargs: str
        ) -> tuple[int, Any] | None:
            answer = await synapse_wrapped(request, *args, **kwargs)
            if answer is not None and isinstance(answer[1], EncodedJson):
                code, encoded = answer
                respond_with_json_bytes(request, code, encoded.body)
                return None
            return answer

        return send_encoded
