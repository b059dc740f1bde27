"""Sends a run of state items as one chain of events, persisted at once.

This is the path Synapse uses to create a room, applied to an existing one. Each
item is checked as ``PUT /state`` checks it, in the same order, against the state
that includes the run's earlier items:

1. the ``user_may_send_state_event`` spam check (server admins exempt);
2. the comparison with current state: an item that repeats the current event for
   its key (same sender, same content) is not sent again, and its result is the
   existing event ID; membership items run all of ``update_membership``'s rules
   here instead (:mod:`.membership`), the repeat among them;
3. creation against the in-memory state, with the third-party event rules and
   event validation;
4. Synapse's limits on the built event (at most 65,536 bytes), then the auth
   rules;
5. for items other than memberships, the policy server and
   ``check_event_for_spam`` (Synapse's membership path runs neither).

An item that fails any of these is left out of the chain and later items go
ahead. Checking each item here, rather than leaving it to the persistence of the
whole chain, keeps one bad item (or one repeat, which Synapse's batch persistence
answers by dropping the whole batch) from costing the others.
"""

import logging
from collections.abc import Sequence

from canonicaljson import encode_canonical_json
from synapse.api.constants import EventTypes, Membership
from synapse.module_api import EventBase

from msc_extensions._synapse_private.batch_persistence import BatchPersistence
from msc_extensions._synapse_private.event_creation import (
    ChainStart,
    CreatedEvent,
    EventCreation,
)
from msc_extensions._synapse_private.member_profiles import LocalProfiles
from msc_extensions._synapse_private.membership_effects import MembershipEffects
from msc_extensions._synapse_private.requesters import Requester
from msc_extensions._synapse_private.room_locks import RoomLocks
from msc_extensions._synapse_private.room_reads import RoomReads
from msc_extensions._synapse_private.spam_checks import SpamChecks
from msc_extensions.msc3192.checks import check_may_send_state
from msc_extensions.msc3192.items import BatchItem, ItemResult
from msc_extensions.msc3192.membership import MembershipRules
from msc_extensions.msc3192.outcomes import attempt, shadow_banned

logger = logging.getLogger(__name__)


class _Chain:
    """The events of a run accepted so far, and the state they leave."""

    def __init__(self, start: ChainStart, profiles: LocalProfiles) -> None:
        self.state = dict(start.state)
        #: The global profiles of the run's invitees, read at once.
        self.profiles = profiles
        self.prev_event_ids = start.prev_event_ids
        #: None for the first event: Synapse derives it from the extremities.
        self.depth: int | None = None
        self.events: list[CreatedEvent] = []
        self.events_by_id: dict[str, EventBase] = {}
        #: Users whose membership the chain changes: told of it by the notifier.
        self.targets: list[str] = []
        #: Joined users the chain makes leave (kicks), for Synapse's follow-ups.
        self.left_joined: list[str] = []

    def add(
        self, created: CreatedEvent, previous_membership: str | None = None
    ) -> None:
        event = created.event
        self.events.append(created)
        if event.type == EventTypes.Member:
            self.targets.append(event.state_key)
            if (
                event.content.get("membership") == Membership.LEAVE
                and previous_membership == Membership.JOIN
            ):
                self.left_joined.append(event.state_key)
        self.events_by_id[event.event_id] = event
        self.state[(event.type, event.state_key)] = event.event_id
        self.prev_event_ids = [event.event_id]
        self.depth = event.depth + 1


def repeats(existing: EventBase, item: BatchItem, sender: str) -> bool:
    """Whether sending ``item`` as ``sender`` would repeat ``existing``, the
    current event for its key: same sender, same content."""
    return existing.sender == sender and encode_canonical_json(
        existing.content
    ) == encode_canonical_json(item.content)


class StateBatch:
    """Sends runs of state items, memberships of other local users included,
    through Synapse's batch persistence."""

    def __init__(
        self,
        locks: RoomLocks,
        rooms: RoomReads,
        creation: EventCreation,
        spam: SpamChecks,
        members: MembershipRules,
        persistence: BatchPersistence,
        effects: MembershipEffects,
    ) -> None:
        self._locks = locks
        self._rooms = rooms
        self._creation = creation
        self._spam = spam
        self._members = members
        self._persistence = persistence
        self._effects = effects

    async def send(
        self,
        requester: Requester,
        room_id: str,
        items: Sequence[BatchItem],
        is_admin: bool,
    ) -> list[ItemResult]:
        """Create ``items`` in order (memberships only as
        :func:`.membership.batchable_membership` allows), each authorised
        against the state that includes the earlier ones, and persist the accepted
        ones in one go. Holds the room's event-creation lock throughout, so
        batches into one room are serialised and each builds on the last.

        Only for rooms with full state and no state DAG: a room this server is in
        only becomes partial again by leaving and rejoining, so the contexts are
        built with full state.

        Raises:
            Exception: reading the room's state or persisting the chain failed,
                which fails the run as a whole.
        """
        if requester.shadow_banned:
            # As for single sends: pretend, and send nothing.
            return [shadow_banned() for _ in items]

        async with self._locks.creating_events(room_id):
            start = await self._creation.chain_start(room_id, len(items))
            chain = _Chain(start, await self._members.read_ahead(items))
            outcomes = [
                await attempt(
                    room_id,
                    (item,),
                    self._add_to_chain(requester, room_id, item, is_admin, chain),
                )
                for item in items
            ]
            if chain.events:
                # Only now: a run whose items all failed stores no state group.
                state_group = await self._creation.chain_state_group(room_id, start)
                await self._persistence.persist(
                    requester,
                    room_id,
                    chain.events,
                    state_group,
                    start.state,
                    extra_users=chain.targets,
                )
                await self._after_leaves(room_id, chain.left_joined)
        return [
            outcome
            if isinstance(outcome, ItemResult)
            else ItemResult.sent(outcome.event.event_id)
            for outcome in outcomes
        ]

    async def _after_leaves(self, room_id: str, user_ids: Sequence[str]) -> None:
        """Synapse's follow-ups for joined members who left. The events are
        persisted by now, so a failure here is logged, not reported as theirs."""
        for user_id in user_ids:
            try:
                await self._effects.user_left_room(user_id, room_id)
            except Exception:
                logger.exception("After %s left %s", user_id, room_id)

    async def _add_to_chain(
        self,
        requester: Requester,
        room_id: str,
        item: BatchItem,
        is_admin: bool,
        chain: _Chain,
    ) -> ItemResult | CreatedEvent:
        """The item's result if it repeats current state, or the event it adds to
        the chain. Raises if it may not be sent."""
        sender = requester.user.to_string()
        await check_may_send_state(self._spam, requester, room_id, item, is_admin)
        if item.is_membership:
            return await self._add_membership(requester, room_id, item, is_admin, chain)
        existing = await self._current_if_repeated(chain, item, sender)
        if existing is not None:
            return ItemResult.sent(existing)
        created = await self._creation.create_event(
            requester,
            item.event_dict(room_id, sender),
            prev_event_ids=chain.prev_event_ids,
            depth=chain.depth,
            state=chain.state,
        )
        self._creation.check_limits(created.event)
        await self._creation.check_auth(created.event, chain.events_by_id)
        await self._spam.check_created_event(created.event)
        chain.add(created)
        return created

    async def _add_membership(
        self,
        requester: Requester,
        room_id: str,
        item: BatchItem,
        is_admin: bool,
        chain: _Chain,
    ) -> ItemResult | CreatedEvent:
        """As :meth:`_add_to_chain`, for a membership item: ``update_membership``'s
        rules against the chain's state, then creation and auth, as Synapse's
        membership path runs them (no policy server, no ``check_event_for_spam``)."""
        current_id = chain.state.get((EventTypes.Member, item.state_key))
        current = None
        if current_id is not None:
            current = chain.events_by_id.get(current_id) or await self._rooms.get_event(
                current_id
            )
        change = await self._members.check(
            requester, room_id, item, is_admin, current, chain.profiles
        )
        if isinstance(change, str):
            return ItemResult.sent(change)
        event_dict = item.event_dict(room_id, requester.user.to_string())
        event_dict["content"] = change.content
        # As Synapse's membership path builds it, for backwards compatibility.
        event_dict["membership"] = change.content["membership"]
        created = await self._creation.create_event(
            requester,
            event_dict,
            prev_event_ids=chain.prev_event_ids,
            depth=chain.depth,
            state=chain.state,
        )
        self._creation.check_limits(created.event)
        await self._creation.check_auth(created.event, chain.events_by_id)
        chain.add(created, previous_membership=change.previous)
        return created

    async def _current_if_repeated(
        self, chain: _Chain, item: BatchItem, sender: str
    ) -> str | None:
        """The ID of the current event for the item's key, if the item would
        repeat it. ``PUT /state`` answers such a send with the existing event ID;
        so does the batch."""
        existing_id = chain.state.get((item.event_type, item.state_key))
        if existing_id is None:
            return None
        existing = await self._rooms.get_event(existing_id)
        if existing is None or not repeats(existing, item, sender):
            return None
        return existing_id
