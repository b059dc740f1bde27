"""Private APIs for persisting a chain of created events in one go.

What this file relies on:

1. ``UnpersistedEventContext.batch_persist_unpersisted_contexts``: stores the state
   groups of a linear chain of events, one delta each on top of the chain's
   starting group, in one transaction.
2. ``EventCreationHandler.handle_new_client_event(requester, events_and_context,
   ratelimit)``: checks and persists every event in one call and notifies. It
   rejects the whole batch if any event fails its checks there.
3. ``StateGroupDataStore._state_group_cache`` and ``_state_group_members_cache``:
   ``DictionaryCache``s of the non-membership and membership state of each group,
   filled with ``update(sequence, group, state, fetched_keys)`` as
   ``store_state_group`` fills them for the full groups it stores.
"""

from collections.abc import Sequence

from synapse.api.constants import EventTypes
from synapse.events.snapshot import EventPersistencePair, UnpersistedEventContext
from synapse.server import HomeServer
from synapse.types import StateMap

from msc_extensions._synapse_private.compat import Requester
from msc_extensions._synapse_private.event_creation import CreatedEvent

#: The most non-membership state entries per group put in Synapse's state-group
#: cache after a batch (see :meth:`BatchPersistence._prefill_state_group_cache`).
MAX_PREFILLED_STATE = 1000


class BatchPersistence:
    """Persists the events of a chain built by :class:`.EventCreation`."""

    def __init__(self, hs: HomeServer) -> None:
        self._state_store = hs.get_datastores().state
        self._creation = hs.get_event_creation_handler()

    async def persist(
        self,
        requester: Requester,
        room_id: str,
        chain: Sequence[CreatedEvent],
        state_group: int,
        state_before: StateMap[str],
    ) -> None:
        """Persist ``chain``, built in order on top of ``state_group`` (whose state
        is ``state_before``), as Synapse persists the events of a new room.

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
        self._prefill_state_group_cache(events_and_context, state_before)
        await self._creation.handle_new_client_event(
            requester, events_and_context=events_and_context, ratelimit=False
        )

    def _prefill_state_group_cache(
        self,
        events_and_context: Sequence[EventPersistencePair],
        state_before: StateMap[str],
    ) -> None:
        """Put the non-membership state of each new state group into Synapse's
        state-group cache, as Synapse does for every full group it stores.

        ``handle_new_client_event`` then reads, for every event, the state before
        it twice (to deduplicate, and for the push rules' power levels); each read
        of a new delta group otherwise costs a database round trip that walks the
        delta chain: two thirds of the batch's transactions. Rooms with a lot of
        non-membership state are left to those reads, to keep the cache small.
        """
        non_member = {
            key: event_id
            for key, event_id in state_before.items()
            if key[0] != EventTypes.Member
        }
        if len(non_member) + len(events_and_context) > MAX_PREFILLED_STATE:
            return
        cache = self._state_store._state_group_cache
        members_cache = self._state_store._state_group_members_cache
        for event, context in events_and_context:
            if event.is_state() and event.type != EventTypes.Member:
                non_member[(event.type, event.state_key)] = event.event_id
            if context.state_group is None:
                continue
            cache.update(cache.sequence, context.state_group, dict(non_member))
            # Only the sender's own membership, which a chain without membership
            # events cannot change: the auth types the push rules ask for.
            sender_key = (EventTypes.Member, event.sender)
            sender_member = state_before.get(sender_key)
            if sender_member is not None:
                members_cache.update(
                    members_cache.sequence,
                    context.state_group,
                    {sender_key: sender_member},
                    fetched_keys=(sender_key,),
                )
