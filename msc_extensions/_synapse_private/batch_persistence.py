"""Private APIs for persisting a chain of created events in one go.

What this file relies on:

1. ``UnpersistedEventContext.batch_persist_unpersisted_contexts``: stores the state
   groups of a linear chain of events, one delta each on top of the chain's
   starting group, in one transaction.
2. ``EventCreationHandler.handle_new_client_event(requester, events_and_context,
   extra_users, ratelimit)``: checks and persists every event in one call and
   notifies, waking ``extra_users`` too (the targets of membership events, as
   ``_local_membership_update`` passes them). It rejects the whole batch if any
   event fails its checks there, and for an invite of a remote user it asks that
   user's server to sign it first (so the caller sends none here).
3. ``StateGroupDataStore._state_group_cache`` and ``_state_group_members_cache``:
   ``DictionaryCache``s of the non-membership and membership state of each group,
   filled with ``update(sequence, group, state, fetched_keys)`` as
   ``store_state_group`` fills them for the full groups it stores.
4. The push-rule evaluator that ``handle_new_client_event`` runs for every
   event (``BulkPushRuleEvaluator._get_rules_for_event`` and
   ``_action_for_event_by_user``): for a membership event that another user
   sends about a user of this server, it reads whether that target is joined
   (``check_local_user_in_room``; see 8), the target's push rules if so or if
   invited (``DataStore.get_push_rules_for_user``, through its
   ``@cachedList`` ``bulk_get_push_rules``, two database transactions a user),
   and then the target's profile in the room
   (``get_user_in_room_with_profile``, through its ``@cachedList``
   ``get_subset_users_in_room_with_profiles(room_id, user_ids)``). Event by
   event, each target misses both caches; calling the two ``@cachedList``
   methods once with every target first fills them in three transactions.
5. ``handle_new_client_event``'s reads of the state before each event and after
   it go, for a new group, to the state-group cache of (3): the deduplication of
   state, the auth and push-rule power levels and the sender's and target's
   memberships, the invitee's visibility of its invite, and an invite's stripped
   state, which is non-membership state and the sender's membership. No other
   membership is read there.
6. ``EventsPersistenceStorageController._get_new_state_after_events``: when the
   events persisted together move the room from one state group to one that is
   not a single delta away (the end of a chain), it reads the whole state of the
   new group (``_get_state_for_groups``), members included, to work out the new
   current state; a miss walks the chain's deltas in the database. Synapse
   caches a group's whole state the same way when it reads or stores one in
   full.
7. ``EventContext.state_group_deltas``: ``{(from_group, to_group): delta}``,
   which ``_get_new_state_after_events`` looks up for the room's old and new
   state groups (each a single one) before anything else; when it finds the
   pair, the delta becomes the change to the room's current state, with no
   read of the old or new state, as for a single event. A chain's contexts
   hold only the delta of each event from the group before it; the delta from
   the group the chain starts from to its last group is all of the chain's
   state, each key at its last event. ``StateStorageController
   .get_state_group_for_events``: the groups of the chain's prev events,
   cached since the chain's start read them.
8. The push-rule evaluator that ``handle_new_client_event`` runs reads, for
   each membership target of this server, whether the target is joined, and
   stages each event's notifications in a transaction of its own:
   :mod:`.batch_push_evaluation` answers the first from Synapse's cache and
   writes the chain's notifications in one transaction.
"""

from collections.abc import Collection, Sequence
from typing import Any, Protocol, cast

from synapse.api.constants import EventTypes, Membership
from synapse.events.snapshot import EventPersistencePair, UnpersistedEventContext
from synapse.server import HomeServer
from synapse.types import StateMap, UserID

from msc_extensions._synapse_private.batch_push_evaluation import BatchPushEvaluation
from msc_extensions._synapse_private.compat import Requester
from msc_extensions._synapse_private.event_creation import CreatedEvent

#: The most non-membership state entries per group put in Synapse's state-group
#: cache after a batch (see :meth:`BatchPersistence._prefill_state_group_cache`).
MAX_PREFILLED_STATE = 1000


class _CachedPushRuleInputs(Protocol):
    """``@cachedList`` store methods, typed as called."""

    async def bulk_get_push_rules(self, user_ids: Collection[str]) -> Any: ...

    async def get_subset_users_in_room_with_profiles(
        self, room_id: str, user_ids: Collection[str]
    ) -> Any: ...


class BatchPersistence:
    """Persists the events of a chain built by :class:`.EventCreation`."""

    def __init__(self, hs: HomeServer) -> None:
        self._state_store = hs.get_datastores().state
        self._state_storage = hs.get_storage_controllers().state
        self._push_rule_inputs = cast(_CachedPushRuleInputs, hs.get_datastores().main)
        self._creation = hs.get_event_creation_handler()
        self._is_mine_id = hs.is_mine_id
        self._push_evaluation = BatchPushEvaluation.of(hs)

    async def persist(
        self,
        requester: Requester,
        room_id: str,
        chain: Sequence[CreatedEvent],
        state_group: int,
        state_before: StateMap[str],
        extra_users: Sequence[str] = (),
    ) -> None:
        """Persist ``chain``, built in order on top of ``state_group`` (whose state
        is ``state_before``), as Synapse persists the events of a new room, and
        wake ``extra_users`` (the targets of membership events) as Synapse's
        membership path does.

        The per-event message rate limit is off: 50 events in one request would
        meet it, so the caller rate-limits the request as a whole. The chain's
        notifications are worked out as a batch (8).
        """
        events_and_context: list[
            EventPersistencePair
        ] = await UnpersistedEventContext.batch_persist_unpersisted_contexts(
            [(created.event, created.context) for created in chain],
            room_id,
            state_group,
            self._state_store,
        )
        self._prefill_state_group_cache(events_and_context, state_group, state_before)
        self._prefill_state_after_chain(events_and_context, state_before)
        await self._record_delta_of_chain(chain, events_and_context)
        await self._read_push_rule_inputs(room_id, chain, state_before)
        chain_ids = [event.event_id for event, _ in events_and_context]
        with self._push_evaluation.grouped(chain_ids):
            await self._creation.handle_new_client_event(
                requester,
                events_and_context=events_and_context,
                extra_users=[UserID.from_string(user_id) for user_id in extra_users],
                ratelimit=False,
            )

    async def _read_push_rule_inputs(
        self, room_id: str, chain: Sequence[CreatedEvent], state_before: StateMap[str]
    ) -> None:
        """(4) Read the push rules and the room profiles of the chain's local
        membership targets, each in one query, into the caches the push-rule
        evaluator reads them from: invitees, and targets with a membership before
        the chain (a pre-emptive ban of a user the room never saw reads
        neither)."""
        targets = [
            event.state_key
            for event in (created.event for created in chain)
            if event.type == EventTypes.Member
            and event.state_key != event.sender
            and self._is_mine_id(event.state_key)
            and (
                event.content.get("membership") == Membership.INVITE
                or (EventTypes.Member, event.state_key) in state_before
            )
        ]
        if targets:
            await self._push_rule_inputs.bulk_get_push_rules(targets)
            await self._push_rule_inputs.get_subset_users_in_room_with_profiles(
                room_id, targets
            )

    def _prefill_state_group_cache(
        self,
        events_and_context: Sequence[EventPersistencePair],
        start_group: int,
        state_before: StateMap[str],
    ) -> None:
        """(3) Put the state of each new state group that persisting reads into
        Synapse's state-group cache, as Synapse does for every full group it
        stores: all non-membership state, and the memberships read there (5).

        ``handle_new_client_event`` reads, for every event, the state before it
        and, for an invite, the invitee's membership after it; each read of a new
        delta group otherwise costs a database round trip that walks the delta
        chain. So each group gets the memberships of the chain's senders and of
        the targets of the events on either side of it: a few per group rather
        than every target of the chain in every group, which would put 50 x 50
        entries into the cache for a batch of 50 invites. Rooms with a lot of
        non-membership state are left to those reads, to keep the cache small.
        """
        non_member = {
            key: event_id
            for key, event_id in state_before.items()
            if key[0] != EventTypes.Member
        }
        if len(non_member) + len(events_and_context) > MAX_PREFILLED_STATE:
            return
        events = [event for event, _ in events_and_context]
        senders = {(EventTypes.Member, event.sender) for event in events}
        targets = [
            (EventTypes.Member, event.state_key)
            if event.type == EventTypes.Member
            else None
            for event in events
        ]

        def read_around(index: int) -> set[tuple[str, str]]:
            """The memberships read in the group after event ``index`` (-1: the
            group the chain starts from)."""
            keys = set(senders)
            for neighbour in targets[max(index, 0) : index + 2]:
                if neighbour is not None:
                    keys.add(neighbour)
            return keys

        members = {
            key: state_before[key]
            for key in senders.union(filter(None, targets))
            if key in state_before
        }
        cache = self._state_store._state_group_cache
        members_cache = self._state_store._state_group_members_cache

        def put_members(group: int, keys: set[tuple[str, str]]) -> None:
            # Each key known present or absent (fetched_keys).
            members_cache.update(
                members_cache.sequence,
                group,
                {key: members[key] for key in keys if key in members},
                fetched_keys=keys,
            )

        put_members(start_group, read_around(-1))
        for index, (event, context) in enumerate(events_and_context):
            if event.is_state():
                key = (event.type, event.state_key)
                if event.type == EventTypes.Member:
                    members[key] = event.event_id
                else:
                    non_member[key] = event.event_id
            if context.state_group is None:
                continue
            cache.update(cache.sequence, context.state_group, dict(non_member))
            put_members(context.state_group, read_around(index))

    def _prefill_state_after_chain(
        self,
        events_and_context: Sequence[EventPersistencePair],
        state_before: StateMap[str],
    ) -> None:
        """(6) Put the whole state after the chain's last event, memberships
        included, into Synapse's state-group cache: persisting reads it to work
        out the room's new current state, and the next chain in the room starts
        from it. One entry, the size of the room's state, which that read would
        put into the cache itself."""
        last_group = next(
            (
                context.state_group
                for _, context in reversed(events_and_context)
                if context.state_group is not None
            ),
            None,
        )
        if last_group is None:
            return
        state = dict(state_before)
        for event, _ in events_and_context:
            if event.is_state():
                state[(event.type, event.state_key)] = event.event_id
        members = {
            key: id_ for key, id_ in state.items() if key[0] == EventTypes.Member
        }
        non_members = {
            key: id_ for key, id_ in state.items() if key[0] != EventTypes.Member
        }
        members_cache = self._state_store._state_group_members_cache
        members_cache.update(members_cache.sequence, last_group, members)
        cache = self._state_store._state_group_cache
        cache.update(cache.sequence, last_group, non_members)

    async def _record_delta_of_chain(
        self,
        chain: Sequence[CreatedEvent],
        events_and_context: Sequence[EventPersistencePair],
    ) -> None:
        """(7) Give the last event's context the delta from the state group of
        the room's forward extremities the chain was built on to the chain's last
        group: the chain's state events, each key at its last event. Persisting
        then updates the room's current state by that delta, as it does after a
        single event, rather than reading the whole state of the room before and
        after the chain to compare them.

        Only where those extremities are all in one state group, so that the
        chain started from exactly that group's state; Synapse uses the delta only
        if the room's extremities are still in that group when it persists."""
        last_group = events_and_context[-1][1].state_group
        prev_groups = await self._state_storage.get_state_group_for_events(
            chain[0].event.prev_event_ids()
        )
        start_groups = set(prev_groups.values())
        if last_group is None or len(start_groups) != 1:
            return
        (start_group,) = start_groups
        if start_group == last_group:
            return
        delta = {
            (event.type, event.state_key): event.event_id
            for event, _ in events_and_context
            if event.is_state()
        }
        events_and_context[-1][1].state_group_deltas[(start_group, last_group)] = delta
