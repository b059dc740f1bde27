"""Private APIs for bringing this server back into a room it lost (after a restore
from an old backup), without a new membership event: the sequence measured on two
real homeservers, main process only.

What this file relies on, and why:

1. ``FederationClient.make_membership_event([server], room_id, user_id, "join",
   {}, params={"ver": [...]})``: the resident server builds a join template and
   stores nothing; its ``prev_event_ids()`` are that server's latest events.
2. ``RoomStore.upsert_room_on_join(room_id, room_version, state_events)``: the
   room's row, which must exist before any of its events is persisted (foreign
   keys).
3. ``FederationEventHandler.process_remote_join(origin, room_id, auth_chain,
   state, event, room_version, partial_state=False)``: the state and auth chain
   stored as outliers, ``event`` checked against the state before it and
   persisted as a normal event, the new forward extremity. Members' caches are
   invalidated by the normal persist path; ``local_current_membership`` then
   points at the local users' existing joins.
4. ``FederationEventHandler.room_queues[room_id]`` and
   ``FederationHandler._handle_queued_pdus``: events that arrive while the room
   is being persisted are queued rather than dropped ("not in the room"), then
   processed, as Synapse does during a join.
5. ``EventFederationStore.clean_room_for_join``: forward extremities left from
   before the loss are cleared, as Synapse's own join does.
6. ``RoomWorkerStore.get_room``, ``RoomMemberWorkerStore.is_host_joined``,
   ``is_partial_state_room``, ``get_users_in_room``, ``EventsWorkerStore.
   have_seen_event``: what this server holds of the room.
"""

from collections.abc import Collection
from typing import Any

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.events import EventBase
from synapse.logging.context import run_in_background
from synapse.server import HomeServer

__all__ = ["RoomRejoin"]


class RoomRejoin:
    """The Synapse calls of a room's recovery."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._server_name = hs.hostname
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main

    # (6)
    async def is_fully_in(self, room_id: str) -> bool:
        """Whether this server knows the room, has full state for it and a local
        user joined in it."""
        if await self._store.get_room(room_id) is None:
            return False
        if await self._store.is_partial_state_room(room_id):
            return False
        return bool(await self._store.is_host_joined(room_id, self._server_name))

    async def local_joined_users(self, room_id: str) -> list[str]:
        """Local users joined in the room's current state as stored here."""
        if await self._store.get_room(room_id) is None:
            return []
        users = await self._store.get_users_in_room(room_id)
        return sorted(u for u in users if u.endswith(":" + self._server_name))

    async def has_event(self, room_id: str, event_id: str) -> bool:
        return bool(await self._store.have_seen_event(room_id, event_id))

    # (1)
    async def latest_event_ids(
        self, server: str, room_id: str, user_id: str
    ) -> tuple[list[str], RoomVersion]:
        """The resident ``server``'s latest events in the room, and its version."""
        (
            _,
            template,
            room_version,
        ) = await self._hs.get_federation_client().make_membership_event(
            [server],
            room_id,
            user_id,
            "join",
            {},
            params={"ver": list(KNOWN_ROOM_VERSIONS)},
        )
        return list(template.prev_event_ids()), room_version

    # (2)-(5)
    async def persist(
        self,
        server: str,
        room_id: str,
        room_version: RoomVersion,
        state_before: Collection[EventBase],
        auth_chain: Collection[EventBase],
        anchor: EventBase,
    ) -> None:
        """Store the state before ``anchor`` and its auth chain, then ``anchor`` as
        the room's forward extremity. Events arriving meanwhile are queued and
        processed afterwards."""
        federation_event_handler = self._hs.get_federation_event_handler()
        queues = federation_event_handler.room_queues
        queues[room_id] = []
        try:
            if not await self._store.is_host_joined(room_id, self._server_name):
                # Forward extremities left from before the loss, as a join does.
                await self._store.clean_room_for_join(room_id)
            await self._store.upsert_room_on_join(
                room_id=room_id,
                room_version=room_version,
                state_events=list(state_before),
            )
            await federation_event_handler.process_remote_join(
                server,
                room_id,
                list(auth_chain),
                list(state_before),
                anchor,
                room_version,
                partial_state=False,
            )
        finally:
            queued = queues.pop(room_id, [])
            run_in_background(
                self._hs.get_federation_handler()._handle_queued_pdus, queued
            )
