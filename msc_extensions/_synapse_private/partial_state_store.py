"""Reads of Synapse's partial-state rooms, none of which waits for full state.

Synapse has no module API for partial-state rooms. What this file relies on, and
why:

1. ``DataStore`` (``hs.get_datastores().main``) reads of the partial-state tables:
   ``get_partial_state_room_resync_info()`` (every partial-state room, its
   ``joined_via`` and the servers in the room at join), ``is_partial_state_room``,
   ``get_partial_state_servers_at_join`` and
   ``get_join_event_id_and_device_lists_stream_id_for_partial_state`` (the join that
   made the room partial, for the join time).
2. ``DataStore.get_current_hosts_in_room`` (the store method: the storage
   controller's waits for full state) and ``DataStore.is_host_joined``: the current
   membership as known here, Synapse's approximation while the room is partial.
   With the servers at join, it is the set Synapse's federation sender sends a
   partial-state room's events to.
3. ``DataStore.get_event`` with ``allow_rejected``: any event this server holds.
4. ``StorageControllers.state.get_current_state`` with ``await_full_state=False``:
   the current state without waiting for the resync. A partial-state join holds
   every non-member state event, so only the membership is incomplete.
"""

from typing import Any

import attr
from synapse.api.constants import EventTypes
from synapse.events import EventBase
from synapse.server import HomeServer
from synapse.types.state import StateFilter

__all__ = ["PartialStateRoom", "PartialStateStore"]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PartialStateRoom:
    """A partial-state room as Synapse's tables know it."""

    room_id: str
    joined_via: str | None
    servers_at_join: frozenset[str]


class PartialStateStore:
    """One homeserver's partial-state rooms, read from its database."""

    def __init__(self, hs: HomeServer) -> None:
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main
        self._state = hs.get_storage_controllers().state
        self._server_name = hs.hostname

    # (1)
    async def partial_state_rooms(self) -> dict[str, PartialStateRoom]:
        info = await self._store.get_partial_state_room_resync_info()
        return {
            room_id: PartialStateRoom(
                room_id, entry.joined_via, frozenset(entry.servers_in_room)
            )
            for room_id, entry in info.items()
        }

    async def is_partial_state_room(self, room_id: str) -> bool:
        return bool(await self._store.is_partial_state_room(room_id))

    async def join_time_ms(self, room_id: str) -> int | None:
        """When the join that made the room partial-state was created."""
        store = self._store
        try:
            (
                event_id,
                _,
            ) = await store.get_join_event_id_and_device_lists_stream_id_for_partial_state(
                room_id
            )
        except Exception:
            return None
        if not event_id:  # Synapse writes it just after the join is persisted
            return None
        event = await self.get_event(event_id)
        return event.origin_server_ts if event else None

    # (1) and (2)
    async def servers_believed_in_room(self, room_id: str) -> set[str]:
        """Servers in the room at join, plus those with a joined member in the
        current state as known here; this server excluded."""
        at_join = await self._store.get_partial_state_servers_at_join(room_id)
        current = await self._store.get_current_hosts_in_room(room_id)
        return (set(at_join or ()) | set(current)) - {self._server_name}

    # (2)
    async def has_joined_member(self, room_id: str, server: str) -> bool:
        """Whether ``server`` has a joined member in the room's current state as
        known here."""
        return bool(await self._store.is_host_joined(room_id, server))

    # (3)
    async def get_event(self, event_id: str) -> EventBase | None:
        event: EventBase | None = await self._store.get_event(
            event_id, allow_none=True, allow_rejected=True
        )
        return event

    # (4)
    async def non_member_state(self, room_id: str) -> dict[tuple[str, str], EventBase]:
        """The current state without membership: complete even while partial."""
        state = await self._state.get_current_state(
            room_id,
            StateFilter.freeze({EventTypes.Member: set()}, include_others=True),
            await_full_state=False,
        )
        return dict(state)

    async def current_state_event(
        self, room_id: str, event_type: str, state_key: str = ""
    ) -> EventBase | None:
        """One event of the current state as known here."""
        state = await self._state.get_current_state(
            room_id,
            StateFilter.from_types([(event_type, state_key)]),
            await_full_state=False,
        )
        return state.get((event_type, state_key))
