"""Private APIs for serving a room's current state and its auth chain (MSC2314).

What this file relies on, and why:

1. ``RoomWorkerStore.get_room_version_id`` (raises ``NotFoundError`` for a room
   this server does not know), ``EventFederationWorkerStore.
   get_latest_event_ids_in_room`` (the forward extremities, cached) and
   ``get_auth_chain_ids`` (with ``include_given``: the given events too),
   and ``StateStorageController.get_current_state_ids``: the reads Synapse's own
   ``/state`` makes, at the room's current state rather than at an event (the
   events themselves are read by :mod:`.stored_pdus`). All of them work on
   workers.
2. ``EventAuthHandler.is_host_in_room``: whether a server has a joined member in
   the room's current state, as Synapse's own ``/state`` decides it.
3. ``FederationServer.on_room_state_request`` and ``on_state_ids_request``: what
   Synapse's own ``/state`` and ``/state_ids`` answer when an event ID is given.
4. ``synapse.util.json.json_encoder`` (what ``respond_with_json`` uses when the
   resource is not canonical), ``defer_to_thread`` and ``respond_with_json_bytes``:
   putting a large answer together on a thread, as Synapse encodes every JSON
   answer on one, and sending bytes encoded earlier.
5. ``ResponseCache`` (built by :func:`.compat.response_cache`: its keep time
   changed type in 1.149.0): one computation per key for concurrent requests, kept
   for a while after it completes.
6. ``BaseFederationServlet._wrap(func)``: the wrapper that authenticates a
   request and rate-limits its origin before calling ``on_<METHOD>``; it returns
   what ``func`` returns, and ``None`` means the answer was written already.
"""

import functools
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping, Sequence
from typing import Any, TypeVar, cast

from synapse.api.errors import NotFoundError
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
    "join_off_reactor",
]

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


async def join_off_reactor(
    hs: HomeServer, fields: JsonDict, pdu_lists: Mapping[str, Sequence[bytes]]
) -> EncodedJson:
    """(4) A JSON object of ``fields`` and, for each of ``pdu_lists``, a list of
    PDUs encoded already, put together on a thread of the reactor's pool (tens of
    megabytes for a large room)."""

    def run() -> bytes:
        parts = [json_encoder.encode(fields)[:-1].encode("utf-8")]
        separator = b"," if fields else b""
        for name, pdus in pdu_lists.items():
            parts.append(separator + json_encoder.encode(name).encode("utf-8") + b":[")
            parts.append(b",".join(pdus))
            parts.append(b"]")
            separator = b","
        parts.append(b"}")
        return b"".join(parts)

    body: bytes = await defer_to_thread(hs.get_reactor(), run)
    return EncodedJson(body)


class AnswerCache:
    """(5) Answers by key: concurrent requests share one computation, and the
    result is kept for ``window_ms`` after it completes."""

    def __init__(self, hs: HomeServer, name: str, window_ms: int) -> None:
        self._cache: ResponseCache[Hashable] = response_cache(hs, name, window_ms)

    async def get_or_compute(
        self, key: Hashable, compute: Callable[[], Awaitable[T]]
    ) -> T:
        result: T = await self._cache.wrap(key, compute)
        return result


class FederationServletWithEncodedAnswers(FederationServlet):
    """(6) A federation servlet whose ``on_<METHOD>`` may answer
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
