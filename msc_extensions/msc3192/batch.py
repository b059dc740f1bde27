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

Invites of users on other servers are built in the chain at their place, like
every other item, and their servers are asked to sign them (several at once)
once the whole chain is built, before anything is persisted. An invite a server
does not sign is left out; since every later event of the chain refers to it
(its prev event, and the state), the chain is built again from that point
without it, and the later remote invites, whose events changed, are signed
again. No later item's decision depends on the left-out invite: items are unique
per state key, and the auth events of an event never include the membership of
another user than its sender and target. Only then is the chain persisted, so
nothing is stored for an invite that was refused. A remote invite is not sent for
signing while the chain holds an event of the state its invitee is shown (the
room's name, say): that part of the chain is persisted first
(:meth:`StateBatch.send`).
"""

import logging
from collections.abc import Callable, Sequence

import attr
from canonicaljson import encode_canonical_json
from synapse.api.constants import EventTypes, Membership
from synapse.module_api import EventBase
from synapse.types import JsonDict, StateMap, UserID

from msc_extensions._synapse_private.batch_persistence import BatchPersistence
from msc_extensions._synapse_private.event_creation import (
    ChainStart,
    CreatedEvent,
    EventCreation,
)
from msc_extensions._synapse_private.member_profiles import LocalProfiles
from msc_extensions._synapse_private.membership_effects import MembershipEffects
from msc_extensions._synapse_private.remote_invites import (
    RemoteInvites,
    UnsignedInvite,
)
from msc_extensions._synapse_private.requesters import Requester
from msc_extensions._synapse_private.room_locks import RoomLocks
from msc_extensions._synapse_private.room_reads import RoomReads
from msc_extensions._synapse_private.spam_checks import SpamChecks
from msc_extensions.msc3192.checks import check_may_send_state
from msc_extensions.msc3192.config import RemoteInvitesConfig
from msc_extensions.msc3192.items import BatchItem, ItemResult
from msc_extensions.msc3192.membership import MembershipRules
from msc_extensions.msc3192.outcomes import attempt, result_for_exception, shadow_banned

logger = logging.getLogger(__name__)


@attr.s(slots=True, auto_attribs=True, eq=False)
class _Accepted:
    """An item the chain holds: what to build for it, and the event built."""

    #: The item's place in the run.
    position: int
    item: BatchItem
    event_dict: JsonDict
    created: CreatedEvent
    #: For a membership item, the target's membership before it.
    previous_membership: str | None = None
    #: An invite of a user of another server, whose server must sign it.
    remote_invite: bool = False
    #: Whether that server has signed ``created``.
    signed: bool = False
    #: For a remote invite, the state its event was built against.
    state_before: StateMap[str] = attr.Factory(dict)


class _Chain:
    """The events of a run accepted so far, and the state they leave."""

    def __init__(self, start: ChainStart) -> None:
        self.start = start
        self.accepted: list[_Accepted] = []
        self._rewind()

    def _rewind(self) -> None:
        self.state = dict(self.start.state)
        self.prev_event_ids = self.start.prev_event_ids
        #: None for the first event: Synapse derives it from the extremities.
        self.depth: int | None = None
        self.events_by_id: dict[str, EventBase] = {}
        #: How many accepted events :meth:`shows_invitees` has asked about, and
        #: whether one of them is shown.
        self._asked = 0
        self._shown = False

    @property
    def events(self) -> list[CreatedEvent]:
        return [accepted.created for accepted in self.accepted]

    @property
    def targets(self) -> list[str]:
        """Users whose membership the chain changes: told of it by the notifier."""
        return [
            a.created.event.state_key
            for a in self.accepted
            if a.created.event.type == EventTypes.Member
        ]

    @property
    def left_joined(self) -> list[str]:
        """Joined users the chain makes leave (kicks), for Synapse's follow-ups."""
        return [
            a.created.event.state_key
            for a in self.accepted
            if a.created.event.type == EventTypes.Member
            and a.created.event.content.get("membership") == Membership.LEAVE
            and a.previous_membership == Membership.JOIN
        ]

    def add(self, accepted: _Accepted) -> None:
        event = accepted.created.event
        if accepted.remote_invite:
            accepted.state_before = dict(self.state)
        self.accepted.append(accepted)
        self.events_by_id[event.event_id] = event
        self.state[(event.type, event.state_key)] = event.event_id
        self.prev_event_ids = [event.event_id]
        self.depth = event.depth + 1

    def shows_invitees(self, shown: Callable[[EventBase], bool]) -> bool:
        """Whether an accepted event is ``shown`` to invitees; each event is
        asked about once, however many invites follow it."""
        while not self._shown and self._asked < len(self.accepted):
            self._shown = shown(self.accepted[self._asked].created.event)
            self._asked += 1
        return self._shown

    def keep_first(self, count: int) -> None:
        """Drop every event after the first ``count``."""
        kept = self.accepted[:count]
        self.accepted = []
        self._rewind()
        for accepted in kept:
            self.add(accepted)


def repeats(existing: EventBase, item: BatchItem, sender: str) -> bool:
    """Whether sending ``item`` as ``sender`` would repeat ``existing``, the
    current event for its key: same sender, same content."""
    return existing.sender == sender and encode_canonical_json(
        existing.content
    ) == encode_canonical_json(item.content)


def is_invite(item: BatchItem) -> bool:
    return item.is_membership and item.content.get("membership") == Membership.INVITE


def is_remote_invite(requester: Requester, item: BatchItem) -> bool:
    return (
        item.is_membership
        and item.content.get("membership") == Membership.INVITE
        and UserID.from_string(item.state_key).domain != requester.user.domain
    )


class StateBatch:
    """Sends runs of state items, memberships of other users included, through
    Synapse's batch persistence."""

    def __init__(
        self,
        locks: RoomLocks,
        rooms: RoomReads,
        creation: EventCreation,
        spam: SpamChecks,
        members: MembershipRules,
        persistence: BatchPersistence,
        effects: MembershipEffects,
        remote_invites: RemoteInvites,
        remote_config: RemoteInvitesConfig,
    ) -> None:
        self._locks = locks
        self._rooms = rooms
        self._creation = creation
        self._spam = spam
        self._members = members
        self._persistence = persistence
        self._effects = effects
        self._remote_invites = remote_invites
        self._remote_config = remote_config

    async def send(
        self,
        requester: Requester,
        room_id: str,
        items: Sequence[BatchItem],
        is_admin: bool,
    ) -> list[ItemResult]:
        """Create ``items`` in order (memberships only as
        :func:`.membership.batchable_membership` allows), each authorised
        against the state that includes the earlier ones, have the remote
        invites among them signed, and persist the accepted ones in one go.
        Holds the room's event-creation lock throughout, so batches into one
        room are serialised and each builds on the last.

        The chain is persisted in two or more parts only where a remote invite
        follows an event of the chain that its invitee is shown: that event must
        be stored before the invite is sent (:meth:`RemoteInvites.preview_shows`).

        Only for rooms with full state and no state DAG: a room this server is in
        only becomes partial again by leaving and rejoining, so the contexts are
        built with full state.

        Raises:
            Exception: reading the room's state or persisting the chain failed
                before any part of it was persisted, which fails the run as a
                whole.
        """
        if requester.shadow_banned:
            # As for single sends: pretend, and send nothing.
            return [shadow_banned() for _ in items]

        results: dict[int, ItemResult] = {}
        # Before the lock: reading remote invitees' profiles may take a while.
        profiles = await self._members.read_ahead(items)
        async with self._locks.creating_events(room_id):
            chain = _Chain(await self._creation.chain_start(room_id, len(items)))
            persisted_any = False
            try:
                for position, item in enumerate(items):
                    if self._must_persist_before(requester, chain, item):
                        persisted_any |= await self._persist(
                            requester, room_id, chain, results
                        )
                        chain = _Chain(
                            await self._creation.chain_start(
                                room_id, len(items) - position
                            )
                        )
                    outcome = await attempt(
                        room_id,
                        (item,),
                        self._add_to_chain(
                            requester,
                            room_id,
                            position,
                            item,
                            is_admin,
                            chain,
                            profiles,
                        ),
                    )
                    if outcome is not None:
                        results[position] = outcome
                await self._persist(requester, room_id, chain, results)
            except Exception as e:
                if not persisted_any:
                    raise
                # Earlier parts are persisted and keep their results.
                for position, item in enumerate(items):
                    if position not in results:
                        results[position] = result_for_exception(e, room_id, (item,))
        return [results[position] for position in range(len(items))]

    def _must_persist_before(
        self, requester: Requester, chain: _Chain, item: BatchItem
    ) -> bool:
        """Whether the chain so far must be persisted before ``item`` is added:
        an invite shows the invitee state that Synapse reads from stored events
        (the room's name, topic, ...; on its own server's /sync, or sent to its
        server for signing), so an event of the chain that it shows must be
        stored first, as it is when the single calls run one after the other."""
        if not is_invite(item):
            return False
        sender = requester.user.to_string()
        return chain.shows_invitees(
            lambda event: self._remote_invites.preview_shows(
                sender, (event.type, event.state_key)
            )
        )

    async def _persist(
        self,
        requester: Requester,
        room_id: str,
        chain: _Chain,
        results: dict[int, ItemResult],
    ) -> bool:
        """Have the chain's remote invites signed, persist what is left, and
        record every accepted item's event ID. Whether anything was persisted."""
        await self._sign_remote_invites(requester, room_id, chain, results)
        if not chain.accepted:
            # Only now: a run whose items all failed stores no state group.
            return False
        state_group = await self._creation.chain_state_group(room_id, chain.start)
        await self._persistence.persist(
            requester,
            room_id,
            chain.events,
            state_group,
            chain.start.state,
            extra_users=chain.targets,
        )
        for accepted in chain.accepted:
            results[accepted.position] = ItemResult.sent(
                accepted.created.event.event_id
            )
        await self._after_leaves(room_id, chain.left_joined)
        return True

    async def _sign_remote_invites(
        self,
        requester: Requester,
        room_id: str,
        chain: _Chain,
        results: dict[int, ItemResult],
    ) -> None:
        """Ask the servers of the chain's remote invitees to sign their invites,
        all at once; leave out each invite that is not signed, rebuilding the
        chain after it, and ask again for the invites the rebuild changed, until
        every remote invite left is signed."""
        while True:
            unsigned = [a for a in chain.accepted if a.remote_invite and not a.signed]
            if not unsigned:
                return
            errors = await self._remote_invites.sign(
                [UnsignedInvite(a.created.event, a.state_before) for a in unsigned],
                concurrency=self._remote_config.concurrency,
                timeout_ms=self._remote_config.timeout_ms,
            )
            refused: list[_Accepted] = []
            for accepted, error in zip(unsigned, errors, strict=True):
                if error is None:
                    accepted.signed = True
                    continue
                refused.append(accepted)
                results[accepted.position] = result_for_exception(
                    error, room_id, (accepted.item,)
                )
            if refused:
                await self._rebuild_without(requester, room_id, chain, refused, results)

    async def _rebuild_without(
        self,
        requester: Requester,
        room_id: str,
        chain: _Chain,
        refused: Sequence[_Accepted],
        results: dict[int, ItemResult],
    ) -> None:
        """Build the chain again from its first refused event on, without the
        refused ones. Each later item's event is built and checked again (its
        prev event and state changed); an item that now fails is left out too."""
        first = min(chain.accepted.index(a) for a in refused)
        later = [a for a in chain.accepted[first:] if a not in refused]
        chain.keep_first(first)
        for accepted in later:
            outcome = await attempt(
                room_id,
                (accepted.item,),
                self._build(requester, accepted.event_dict, chain),
            )
            if isinstance(outcome, ItemResult):
                results[accepted.position] = outcome
                continue
            accepted.created = outcome
            accepted.signed = False
            chain.add(accepted)

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
        position: int,
        item: BatchItem,
        is_admin: bool,
        chain: _Chain,
        profiles: LocalProfiles,
    ) -> ItemResult | None:
        """Add the item's event to the chain (None), or the item's result if it
        repeats current state. Raises if it may not be sent."""
        sender = requester.user.to_string()
        await check_may_send_state(self._spam, requester, room_id, item, is_admin)
        if item.is_membership:
            return await self._add_membership(
                requester, room_id, position, item, is_admin, chain, profiles
            )
        existing = await self._current_if_repeated(chain, item, sender)
        if existing is not None:
            return ItemResult.sent(existing)
        event_dict = item.event_dict(room_id, sender)
        created = await self._build(requester, event_dict, chain)
        chain.add(_Accepted(position, item, event_dict, created))
        return None

    async def _add_membership(
        self,
        requester: Requester,
        room_id: str,
        position: int,
        item: BatchItem,
        is_admin: bool,
        chain: _Chain,
        profiles: LocalProfiles,
    ) -> ItemResult | None:
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
            requester, room_id, item, is_admin, current, profiles
        )
        if isinstance(change, str):
            return ItemResult.sent(change)
        event_dict = item.event_dict(room_id, requester.user.to_string())
        event_dict["content"] = change.content
        # As Synapse's membership path builds it, for backwards compatibility.
        event_dict["membership"] = change.content["membership"]
        created = await self._build(requester, event_dict, chain)
        chain.add(
            _Accepted(
                position,
                item,
                event_dict,
                created,
                previous_membership=change.previous,
                remote_invite=is_remote_invite(requester, item),
            )
        )
        return None

    async def _build(
        self, requester: Requester, event_dict: JsonDict, chain: _Chain
    ) -> CreatedEvent:
        """Build the event at the chain's end and run the checks on the built
        event: size limits, auth rules, and for items other than memberships the
        policy server and ``check_event_for_spam``."""
        created = await self._creation.create_event(
            requester,
            {**event_dict, "content": dict(event_dict["content"])},
            prev_event_ids=chain.prev_event_ids,
            depth=chain.depth,
            state=chain.state,
        )
        self._creation.check_limits(created.event)
        await self._creation.check_auth(created.event, chain.events_by_id)
        if created.event.type != EventTypes.Member:
            await self._spam.check_created_event(created.event)
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
