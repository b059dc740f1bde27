"""Private APIs for creating a chain of events against an in-memory state map.

Synapse creates the events of a new room this way: each event is built against
the state the earlier ones leave, with no database look-up per event, and the
chain is persisted at once (:mod:`.batch_persistence`).

What this file relies on:

1. ``DataStore.get_prev_events_for_room``: the room's forward extremities (at most
   ten), which a new event refers to.
2. ``StateHandler.resolve_state_groups_for_events`` and its ``_StateCacheEntry``
   (``state_group``, ``get_state(state_storage)``): the state at those
   extremities, and the persisted state group holding it, if there is one.
3. ``StateGroupDataStore.store_state_group`` (a full snapshot when ``prev_group``
   is None), ``_count_state_group_hops_txn`` and ``MAX_STATE_DELTA_HOPS``: a chain
   of events persisted together stores one state-group delta per event and never
   snapshots on its own, so the chain must start from a group that leaves room
   for it below Synapse's limit.
4. ``EventCreationHandler.create_event(..., prev_event_ids, depth, state_map,
   for_batch=True)``: builds an event and its ``UnpersistedEventContext`` against
   the given state map, running the third-party event rules and event validation.
   The context keeps the map it is given.
5. ``EventAuthHandler.check_auth_rules_from_context(event, batched_auth_events)``:
   the auth check ``handle_new_client_event`` runs on each event of a batch, where
   one failure rejects the whole batch; the auth events may be earlier events of
   the same, not yet persisted, chain.
6. ``synapse.event_auth.validate_event_for_room_version``: the limits
   ``handle_new_client_event`` checks first on each event (the whole PDU at most
   65,536 bytes of canonical JSON, type, state key, sender and IDs at most 255
   bytes; ``EventSizeError``, 413 ``M_TOO_LARGE``) and its signature, where one
   failure likewise rejects the whole batch.
7. ``EventBase.redacts``: ``persist_and_notify_client_events`` asserts that an
   ``m.room.redaction`` names the event it redacts, failing the whole batch
   otherwise. Room versions before 11 keep ``redacts`` beside the content, where
   no batch item can put it (and those are the default room versions of Synapse
   before 1.158.0).
"""

from collections.abc import Mapping, Sequence

import attr
from synapse.api.constants import EventTypes
from synapse.api.errors import Codes, SynapseError
from synapse.event_auth import validate_event_for_room_version
from synapse.events import EventBase
from synapse.events.snapshot import UnpersistedEventContextBase
from synapse.server import HomeServer
from synapse.storage.databases.state.store import MAX_STATE_DELTA_HOPS
from synapse.types import JsonDict, StateMap

from msc_extensions._synapse_private.compat import Requester


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ChainStart:
    """Where a chain of new events in a room starts."""

    #: The room's forward extremities: the first event's prev events.
    prev_event_ids: list[str]
    #: The state at those extremities.
    state: StateMap[str]
    #: A persisted state group holding ``state``, close enough to a full snapshot
    #: that the chain's deltas stay below Synapse's limit; None when a snapshot
    #: must be stored first (:meth:`EventCreation.chain_state_group`), which is
    #: left until the chain has an event, so that a chain of failed items leaves
    #: no state group behind.
    state_group: int | None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class CreatedEvent:
    """An event built but not persisted, with the context it was built in."""

    event: EventBase
    context: UnpersistedEventContextBase


class EventCreation:
    """Builds and authorises events against an in-memory state map."""

    def __init__(self, hs: HomeServer) -> None:
        self._store = hs.get_datastores().main
        self._state_store = hs.get_datastores().state
        self._state_storage = hs.get_storage_controllers().state
        self._state_handler = hs.get_state_handler()
        self._creation = hs.get_event_creation_handler()
        self._event_auth = hs.get_event_auth_handler()

    async def chain_start(self, room_id: str, n_events: int) -> ChainStart:
        """The room's forward extremities, the state at them, and a persisted state
        group holding that state from which a chain of ``n_events`` deltas can
        start.

        When the chain would reach ``MAX_STATE_DELTA_HOPS``, or the extremities'
        resolved state has no group yet, the chain must start from a full
        snapshot, as Synapse's own single sends do: ``state_group`` is None, and
        :meth:`chain_state_group` stores it. Hold
        :meth:`.RoomLocks.creating_events` from before this call until the chain
        is persisted.
        """
        prev_event_ids = await self._store.get_prev_events_for_room(room_id)
        entry = await self._state_handler.resolve_state_groups_for_events(
            room_id, prev_event_ids
        )
        state = dict(await entry.get_state(self._state_storage))
        state_group = entry.state_group
        if state_group is not None:
            hops: int = await self._state_store.db_pool.runInteraction(
                "msc3192_count_state_group_hops",
                self._state_store._count_state_group_hops_txn,
                state_group,
            )
            if hops + n_events < MAX_STATE_DELTA_HOPS:
                return ChainStart(prev_event_ids, state, state_group)
        return ChainStart(prev_event_ids, state, None)

    async def chain_state_group(self, room_id: str, start: ChainStart) -> int:
        """The persisted state group the chain's deltas start from: the start's
        own, or a full snapshot of its state, stored now."""
        if start.state_group is not None:
            return start.state_group
        return await self._state_store.store_state_group(
            start.prev_event_ids[0],
            room_id,
            prev_group=None,
            delta_ids=None,
            current_state_ids=start.state,
        )

    async def create_event(
        self,
        requester: Requester,
        event_dict: JsonDict,
        prev_event_ids: Sequence[str],
        depth: int | None,
        state: StateMap[str],
    ) -> CreatedEvent:
        """Build an event against ``state`` (copied: the context keeps its map),
        with the third-party event rules and event validation. ``depth`` None
        lets Synapse derive it from ``prev_event_ids``.

        Raises:
            SynapseError: the event is invalid or a module refused it.
        """
        event, context = await self._creation.create_event(
            requester,
            event_dict,
            prev_event_ids=list(prev_event_ids),
            depth=depth,
            state_map=dict(state),
            for_batch=True,
        )
        return CreatedEvent(event, context)

    def check_limits(self, event: EventBase) -> None:
        """(6) The size limits (and signature) Synapse checks before it persists
        an event.

        Raises:
            SynapseError: 413 ``M_TOO_LARGE`` for an event over a size limit;
                (7) 400 ``M_BAD_JSON`` for a redaction that names no event.
        """
        validate_event_for_room_version(event)
        if event.type == EventTypes.Redaction and event.redacts is None:
            raise SynapseError(
                400,
                "A redaction must name the event it redacts; in this room version "
                "that is beside the content, not in it",
                Codes.BAD_JSON,
            )

    async def check_auth(
        self, event: EventBase, earlier_in_chain: Mapping[str, EventBase]
    ) -> None:
        """The auth rules against the event's auth events, which may be earlier
        events of the chain, not yet persisted (``earlier_in_chain``, by ID).

        Raises:
            AuthError: 403 when the rules refuse the event.
        """
        await self._event_auth.check_auth_rules_from_context(
            event, batched_auth_events=earlier_in_chain
        )
