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
4. ``DataStore.bulk_get_push_rules(user_ids)``, the ``@cachedList`` of
   ``get_push_rules_for_user`` that the push-rule evaluator in
   ``handle_new_client_event`` calls for every event, with the room's local
   members plus, for an invite, the local invitee: each new invitee costs it two
   database transactions (push rules, and which are enabled), event by event.
   Calling it once with every local invitee first fills that cache in one query.
"""

from collections.abc import Collection, Sequence
from typing import Any, Protocol, cast

from synapse.api.constants import EventTypes, Membership
from synapse.events.snapshot import EventPersistencePair, UnpersistedEventContext
from synapse.server import HomeServer
from synapse.types import StateMap, UserID

from msc_extensions._synapse_private.compat import Requester
from msc_extensions._synapse_private.event_creation import CreatedEvent

#: The most non-membership state entries per group put in Synapse's state-group
#: cache after a batch (see :meth:`BatchPersistence._prefill_state_group_cache`).
MAX_PREFILLED_STATE = 1000


class _CachedPushRules(Protocol):
    """A ``@cachedList`` store method, typed as called."""

    async def bulk_get_push_rules(self, user_ids: Collection[str]) -> Any: ...


class BatchPersistence:
    """Persists the events of a chain built by :class:`.EventCreation`."""

    def __init__(self, hs: HomeServer) -> None:
        self._state_store = hs.get_datastores().state
        self._push_rules = cast(_CachedPushRules, hs.get_datastores().main)
        self._creation = hs.get_event_creation_handler()
        self._is_mine_id = hs.is_mine_id

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
        meet it, so the caller rate-limits the request as a whole.
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
        await self._read_invitees_push_rules(chain)
        await self._creation.handle_new_client_event(
            requester,
            events_and_context=events_and_context,
            extra_users=[UserID.from_string(user_id) for user_id in extra_users],
            ratelimit=False,
        )

    async def _read_invitees_push_rules(self, chain: Sequence[CreatedEvent]) -> None:
        """(4) Read the push rules of the chain's local invitees in one query, into
        the cache the push-rule evaluator reads them from."""
        invitees = [
            created.event.state_key
            for created in chain
            if created.event.type == EventTypes.Member
            and created.event.content.get("membership") == Membership.INVITE
            and self._is_mine_id(created.event.state_key)
        ]
        if invitees:
            await self._push_rules.bulk_get_push_rules(invitees)

    def _prefill_state_group_cache(
        self,
        events_and_context: Sequence[EventPersistencePair],
        start_group: int,
        state_before: StateMap[str],
    ) -> None:
        """Put the state of each new state group that persisting reads into
        Synapse's state-group cache, as Synapse does for every full group it
        stores: all non-membership state, and the memberships of the chain's
        senders and targets.

        ``handle_new_client_event`` then reads, for every event, the state before
        it (to deduplicate, the membership of a membership event's target, and
        the push rules' power levels and sender's membership; an invite's
        stripped state for the invitee); each read of a new delta group
        otherwise costs a database round trip that walks the delta chain. Rooms
        with a lot of non-membership state are left to those reads, to keep the
        cache small; the memberships are at most two per event.
        """
        non_member = {
            key: event_id
            for key, event_id in state_before.items()
            if key[0] != EventTypes.Member
        }
        if len(non_member) + len(events_and_context) > MAX_PREFILLED_STATE:
            return
        member_keys = set()
        for event, _ in events_and_context:
            member_keys.add((EventTypes.Member, event.sender))
            if event.type == EventTypes.Member:
                member_keys.add((EventTypes.Member, event.state_key))
        members = {key: state_before[key] for key in member_keys if key in state_before}
        cache = self._state_store._state_group_cache
        members_cache = self._state_store._state_group_members_cache
        # The group the chain starts from: the state before its first event.
        members_cache.update(
            members_cache.sequence, start_group, dict(members), fetched_keys=member_keys
        )
        for event, context in events_and_context:
            if event.is_state():
                key = (event.type, event.state_key)
                if event.type == EventTypes.Member:
                    members[key] = event.event_id
                else:
                    non_member[key] = event.event_id
            if context.state_group is None:
                continue
            cache.update(cache.sequence, context.state_group, dict(non_member))
            # Only the keys above, each known present or absent (fetched_keys).
            members_cache.update(
                members_cache.sequence,
                context.state_group,
                dict(members),
                fetched_keys=member_keys,
            )
