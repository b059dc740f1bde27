"""Private APIs for reading what the module needs to know about a room.

What this file relies on:

1. ``DataStore.get_room_version_id`` (raises ``NotFoundError`` for a room the
   server does not know), ``get_room_version`` (state DAGs: :func:`.compat.uses_state_dags`)
   and ``is_partial_state_room``: cached store reads. Their ``@cached``
   descriptors need Synapse's own mypy plugin, so they are typed here as called.
2. ``DataStore.get_event(event_id, allow_none=True)``.
3. ``DataStore.is_host_joined(room_id, host)`` (cached), ``is_room_blocked`` and
   ``is_server_notice_room``: what ``update_membership`` asks about a room before
   it changes a membership there.
"""

from typing import Protocol, cast

from synapse.api.errors import NotFoundError
from synapse.events import EventBase
from synapse.server import HomeServer

from msc_extensions._synapse_private.compat import uses_state_dags


class _CachedRoomReads(Protocol):
    """Cached store methods, typed as called."""

    async def get_room_version_id(self, room_id: str) -> str: ...

    async def is_partial_state_room(self, room_id: str) -> bool: ...
    async def is_host_joined(self, room_id: str, host: str) -> bool: ...
    async def is_room_blocked(self, room_id: str) -> bool | None: ...


class RoomReads:
    """Facts about rooms, and events in them, from Synapse's main store."""

    def __init__(self, hs: HomeServer) -> None:
        self._store = hs.get_datastores().main
        self._cached = cast(_CachedRoomReads, self._store)
        self._server_name = hs.hostname

    async def exists(self, room_id: str) -> bool:
        """Whether this server knows the room."""
        try:
            await self._cached.get_room_version_id(room_id)
        except NotFoundError:
            return False
        return True

    async def is_partial_state(self, room_id: str) -> bool:
        """Whether the server joined the room over federation with partial state
        and has not finished fetching the full state."""
        return await self._cached.is_partial_state_room(room_id)

    async def uses_state_dags(self, room_id: str) -> bool:
        """Whether the room's version keeps its state in a DAG of its own
        (MSC4242), where events are not built against a plain state map."""
        room_version = await self._store.get_room_version(room_id)
        return uses_state_dags(room_version)

    async def get_event(self, event_id: str) -> EventBase | None:
        """The event, or None when the server does not have it."""
        return await self._store.get_event(event_id, allow_none=True)

    async def is_server_in_room(self, room_id: str) -> bool:
        """Whether a user of this server is joined to the room."""
        return await self._cached.is_host_joined(room_id, self._server_name)

    async def is_blocked(self, room_id: str) -> bool:
        """Whether a server admin has blocked the room on this server."""
        return bool(await self._cached.is_room_blocked(room_id))

    async def is_server_notice_room(self, room_id: str) -> bool:
        """Whether the server notices user is in the room: its invites cannot be
        rejected."""
        return await self._store.is_server_notice_room(room_id)
