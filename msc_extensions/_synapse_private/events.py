"""Private APIs for creating many state events in one go (MSC3192 batch state).

What this file relies on, so that a Synapse upgrade that moves any of it breaks
here and nowhere else:

1. ``EventCreationHandler`` (``hs.get_event_creation_handler()``):
   ``create_event(..., prev_event_ids, depth, state_map, for_batch=True)`` builds an
   event and its ``UnpersistedEventContext`` against an in-memory state map, with no
   database state look-up; ``handle_new_client_event(events_and_context=[...])``
   checks auth, persists every event in one call and notifies;
   ``create_and_send_nonmember_event`` is the single-event path; ``limiter`` is the
   per-room ``Linearizer`` of event creation.
2. ``UnpersistedEventContext.batch_persist_unpersisted_contexts`` stores the state
   groups of a linear chain of events in one transaction.
3. ``StateGroupDataStore.store_state_group`` (a full snapshot when ``prev_group`` is
   None), ``_count_state_group_hops_txn`` and ``MAX_STATE_DELTA_HOPS``: the batch
   path chains one delta per event and never snapshots on its own.
4. ``StateHandler.resolve_state_groups_for_events`` and ``_StateCacheEntry``
   (``state_group``, ``get_state``): the state at the room's forward extremities.
5. ``EventAuthHandler.check_auth_rules_from_context(event, batched_auth_events)``:
   the auth check ``handle_new_client_event`` runs, run here per item first, since
   one failure there rejects the whole batch.
6. ``RoomMemberHandler.update_membership`` and ``ratelimit_invite``: every
   membership check of the single-event APIs.
7. Spam-checker callbacks ``user_may_send_state_event`` and
   ``check_event_for_spam``, and ``RoomPolicyHandler.is_event_allowed``: the checks
   ``PUT /state`` and ``create_and_send_nonmember_event`` run outside
   ``create_event``.
8. ``Ratelimiter`` with ``RatelimitSettings`` and the module rate-limit callbacks;
   ``HttpTransactionCache.fetch_or_execute_request``.
9. ``StateGroupDataStore._state_group_cache`` and ``_state_group_members_cache``,
   ``DictionaryCache``s of the non-membership and membership state of each group,
   filled with ``update(sequence, group, state, fetched_keys)`` as
   ``store_state_group`` fills them for full groups.
10. ``WorkerLocksHandler.acquire_read_write_lock(NEW_EVENT_DURING_PURGE_LOCK_NAME)``,
   ``DataStore.is_partial_state_room``, ``get_prev_events_for_room``,
   ``get_room_version_id``, ``synapse.util.events.generate_fake_event_id``.
11. ``synapse.synapse_rust.types.Requester``: ``synapse.types`` re-exports it, but
    not explicitly enough for mypy; the rest of the module takes it from here.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, cast

from canonicaljson import encode_canonical_json
from synapse.api.constants import EventTypes, Membership
from synapse.api.errors import (
    Codes,
    NotFoundError,
    ShadowBanError,
    SynapseError,
)
from synapse.api.ratelimiting import Ratelimiter
from synapse.config.ratelimiting import RatelimitSettings
from synapse.events import EventBase
from synapse.events.snapshot import (
    EventPersistencePair,
    UnpersistedEventContext,
    UnpersistedEventContextBase,
)
from synapse.handlers.worker_lock import NEW_EVENT_DURING_PURGE_LOCK_NAME
from synapse.http.site import SynapseRequest
from synapse.rest.client.transactions import HttpTransactionCache
from synapse.server import HomeServer
from synapse.storage.databases.state.store import MAX_STATE_DELTA_HOPS
from synapse.synapse_rust.types import Requester
from synapse.types import StateMap, UserID
from synapse.util.events import generate_fake_event_id
from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest

from msc_extensions.msc3192.items import BatchItem, ItemResult

logger = logging.getLogger(__name__)

__all__ = ["BatchStateEvents", "MAX_STATE_DELTA_HOPS", "Requester"]

#: State event types whose checks ``handle_new_client_event`` runs only at persist
#: time, where one failure would drop the whole batch: sent one by one instead.
SINGLE_SEND_TYPES = frozenset({EventTypes.CanonicalAlias})

#: The most non-membership state entries per group put in Synapse's state-group
#: cache after a batch (see ``_prefill_state_group_cache``).
MAX_PREFILLED_STATE = 1000


class _CachedRoomReads(Protocol):
    """Cached store methods, typed as called: Synapse's ``@cached`` descriptors
    need Synapse's own mypy plugin to be understood."""

    async def get_room_version_id(self, room_id: str) -> str: ...

    async def is_partial_state_room(self, room_id: str) -> bool: ...


class BatchStateEvents:
    """Creates and persists the events of one batch for a homeserver."""

    def __init__(
        self, hs: HomeServer, limiter_name: str, per_second: float, burst_count: int
    ) -> None:
        self._hs = hs
        self._store = hs.get_datastores().main
        self._room_reads = cast(_CachedRoomReads, self._store)
        self._state_store = hs.get_datastores().state
        self._storage_controllers = hs.get_storage_controllers()
        self._state_handler = hs.get_state_handler()
        self._creation = hs.get_event_creation_handler()
        self._member_handler = hs.get_room_member_handler()
        self._event_auth = hs.get_event_auth_handler()
        self._worker_locks = hs.get_worker_locks_handler()
        self._policy = hs.get_room_policy_handler()
        self._spam_checker = hs.get_module_api_callbacks().spam_checker
        self._auth = hs.get_auth()
        self._ratelimiter = Ratelimiter(
            store=self._store,
            clock=hs.get_clock(),
            cfg=RatelimitSettings(
                key=limiter_name, per_second=per_second, burst_count=burst_count
            ),
            ratelimit_callbacks=hs.get_module_api_callbacks().ratelimit,
        )
        self._transactions = HttpTransactionCache(hs)

    # -- request plumbing ---------------------------------------------------------

    def fetch_or_execute(
        self,
        request: SynapseRequest,
        requester: Requester,
        run: Callable[[], Awaitable[tuple[int, Any]]],
    ) -> "Deferred[tuple[int, Any]]":
        """Run ``run`` once per (path, user, device or token): a replay, even one
        that arrives while the first is still running, gets the first's response.
        A run that raises is forgotten, so a retry after an error runs again."""
        return self._transactions.fetch_or_execute_request(
            cast(IRequest, request), requester, run
        )

    async def ratelimit(self, requester: Requester) -> None:
        """Raises ``LimitExceededError`` (429, ``retry_after_ms``) when over."""
        await self._ratelimiter.ratelimit(requester)

    async def room_exists(self, room_id: str) -> bool:
        try:
            await self._room_reads.get_room_version_id(room_id)
        except NotFoundError:
            return False
        return True

    async def can_batch(self, room_id: str) -> bool:
        """Whether the batch path applies: it assumes full state and no state DAG."""
        if await self._room_reads.is_partial_state_room(room_id):
            return False
        room_version = await self._store.get_room_version(room_id)
        return not room_version.msc4242_state_dags

    async def is_server_admin(self, requester: Requester) -> bool:
        return await self._auth.is_server_admin(requester)

    async def check_may_send_state(
        self, requester: Requester, room_id: str, item: BatchItem, is_admin: bool
    ) -> None:
        """The spam check ``PUT /state`` runs for every state event, admins exempt."""
        if is_admin:
            return
        verdict = await self._spam_checker.user_may_send_state_event(
            user_id=requester.user.to_string(),
            room_id=room_id,
            event_type=item.event_type,
            state_key=item.state_key,
            content=dict(item.content),
        )
        if verdict != self._spam_checker.NOT_SPAM:
            raise SynapseError(
                403,
                "You are not permitted to send the state event",
                errcode=verdict[0],
                additional_fields=verdict[1],
            )

    # -- membership -----------------------------------------------------------------

    async def send_membership(
        self, requester: Requester, room_id: str, item: BatchItem
    ) -> str:
        """Exactly what ``PUT /state/m.room.member/{userId}`` does, every check
        included. The batch's own rate limit stands in for the per-event message
        rate limit; invites still pass the invite rate limits and joins the join
        rate limits."""
        action = item.content["membership"]
        target = UserID.from_string(item.state_key)
        if action == Membership.INVITE:
            await self._member_handler.ratelimit_invite(
                requester, room_id, target.to_string()
            )
        try:
            event_id, _ = await self._member_handler.update_membership(
                requester,
                target=target,
                room_id=room_id,
                action=action,
                content=dict(item.content),
                ratelimit=action == Membership.JOIN,
            )
        except ShadowBanError:
            return generate_fake_event_id()
        return event_id

    # -- plain state, one by one ------------------------------------------------------

    async def send_single(
        self, requester: Requester, room_id: str, item: BatchItem
    ) -> str:
        """What ``PUT /state/{type}/{key}`` does for one non-membership event.

        Works in partial-state rooms. Deduplicates against current state itself."""
        try:
            event, _ = await self._creation.create_and_send_nonmember_event(
                requester,
                item.event_dict(room_id, requester.user.to_string()),
                ratelimit=False,
            )
        except ShadowBanError:
            return generate_fake_event_id()
        return event.event_id

    # -- plain state, batched ---------------------------------------------------------

    def needs_single_send(self, item: BatchItem) -> bool:
        return item.event_type in SINGLE_SEND_TYPES

    async def send_batch(
        self,
        requester: Requester,
        room_id: str,
        items: Sequence[BatchItem],
        is_admin: bool,
    ) -> list[ItemResult]:
        """Create ``items`` (no membership events) in order, each authorised against
        the state that includes the earlier ones, and persist the accepted ones in
        one go. Holds the room's event-creation limiter throughout, so batches into
        one room are serialised and each builds on the last."""
        if requester.shadow_banned:
            # As for single sends: pretend, and send nothing.
            return [ItemResult.sent(generate_fake_event_id()) for _ in items]

        async with self._creation.limiter.queue(room_id):
            async with self._worker_locks.acquire_read_write_lock(
                NEW_EVENT_DURING_PURGE_LOCK_NAME, room_id, write=False
            ):
                # Only full-state rooms come here (``can_batch``); a room this
                # server is in only becomes partial again by leaving and rejoining,
                # so the PartialStateConflictError single sends retry on does not
                # arise, and the contexts are built with full state.
                return await self._send_batch_locked(
                    requester, room_id, items, is_admin
                )

    async def _send_batch_locked(
        self,
        requester: Requester,
        room_id: str,
        items: Sequence[BatchItem],
        is_admin: bool,
    ) -> list[ItemResult]:
        sender = requester.user.to_string()
        prev_event_ids = await self._store.get_prev_events_for_room(room_id)
        state_map, state_group = await self._state_before(
            room_id, prev_event_ids, len(items)
        )
        base_state = dict(state_map)

        results: list[ItemResult | None] = [None] * len(items)
        accepted: list[tuple[EventBase, UnpersistedEventContextBase]] = []
        accepted_indexes: list[int] = []
        batch_events: dict[str, EventBase] = {}
        depth: int | None = None

        for position, item in enumerate(items):
            try:
                # In the order PUT /state runs them: the spam check first, then
                # deduplication against current state.
                await self.check_may_send_state(requester, room_id, item, is_admin)
                existing = await self._same_as_current(state_map, item, sender)
                if existing is not None:
                    results[position] = ItemResult.sent(existing)
                    continue
                event, context = await self._creation.create_event(
                    requester,
                    item.event_dict(room_id, sender),
                    prev_event_ids=prev_event_ids,
                    depth=depth,
                    # A copy each: the map changes as items are accepted.
                    state_map=dict(state_map),
                    for_batch=True,
                )
                await self._event_auth.check_auth_rules_from_context(
                    event, batched_auth_events=batch_events
                )
                await self._check_event_for_spam(event)
            except SynapseError as e:
                logger.info("batch_state item %d in %s: %s", item.index, room_id, e)
                results[position] = ItemResult.failed(e)
                continue
            except Exception:
                logger.exception("batch_state item %d in %s", item.index, room_id)
                results[position] = ItemResult.failed(
                    SynapseError(500, "Internal error while creating this item")
                )
                continue
            accepted.append((event, context))
            accepted_indexes.append(position)
            batch_events[event.event_id] = event
            state_map[(event.type, event.state_key)] = event.event_id
            prev_event_ids = [event.event_id]
            depth = event.depth + 1

        if accepted:
            await self._persist(requester, room_id, accepted, state_group, base_state)
            for position, (event, _) in zip(accepted_indexes, accepted, strict=True):
                results[position] = ItemResult.sent(event.event_id)

        return [r if r is not None else _internal_error() for r in results]

    async def _state_before(
        self, room_id: str, prev_event_ids: list[str], n_events: int
    ) -> tuple[dict[tuple[str, str], str], int]:
        """The state at the room's forward extremities and a persisted state group
        holding it, from which the batch's chain of deltas can start.

        When the chain would grow past Synapse's ``MAX_STATE_DELTA_HOPS``, or the
        extremities' resolved state has no group yet, stores a full snapshot first,
        as Synapse's own single sends do."""
        entry = await self._state_handler.resolve_state_groups_for_events(
            room_id, prev_event_ids
        )
        state_map = dict(await entry.get_state(self._storage_controllers.state))
        state_group = entry.state_group
        if state_group is not None:
            hops: int = await self._state_store.db_pool.runInteraction(
                "msc3192_count_state_group_hops",
                self._state_store._count_state_group_hops_txn,
                state_group,
            )
            if hops + n_events < MAX_STATE_DELTA_HOPS:
                return state_map, state_group
        snapshot = await self._state_store.store_state_group(
            prev_event_ids[0],
            room_id,
            prev_group=None,
            delta_ids=None,
            current_state_ids=state_map,
        )
        return state_map, snapshot

    async def _same_as_current(
        self, state_map: StateMap[str], item: BatchItem, sender: str
    ) -> str | None:
        """The current event for the item's key, if the item would repeat it: same
        sender, same content. ``PUT /state`` answers such a send with the existing
        event ID; so does the batch."""
        existing_id = state_map.get((item.event_type, item.state_key))
        if existing_id is None:
            return None
        existing = await self._store.get_event(existing_id, allow_none=True)
        if existing is None or existing.sender != sender:
            return None
        if encode_canonical_json(existing.content) != encode_canonical_json(
            item.content
        ):
            return None
        return existing_id

    async def _check_event_for_spam(self, event: EventBase) -> None:
        """The checks ``create_and_send_nonmember_event`` runs after creation."""
        await self._policy.ask_policy_server_to_sign_event(event, verify=False)
        if not await self._policy.is_event_allowed(event):
            raise SynapseError(
                403, "This message has been rejected as probable spam", Codes.FORBIDDEN
            )
        verdict = await self._spam_checker.check_event_for_spam(event)
        if verdict == self._spam_checker.NOT_SPAM:
            return
        if isinstance(verdict, tuple):
            code, fields = verdict
            raise SynapseError(
                403, "This message has been rejected as probable spam", code, fields
            )
        raise SynapseError(403, verdict, Codes.FORBIDDEN)

    async def _persist(
        self,
        requester: Requester,
        room_id: str,
        accepted: list[tuple[EventBase, UnpersistedEventContextBase]],
        state_group: int,
        state_before: StateMap[str],
    ) -> None:
        events_and_context: list[
            EventPersistencePair
        ] = await UnpersistedEventContext.batch_persist_unpersisted_contexts(
            accepted, room_id, state_group, self._state_store
        )
        self._prefill_state_group_cache(events_and_context, state_before)
        # The batch's own rate limit replaces the per-event message rate limit.
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
            # Only the sender's own membership, which a run without membership
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


def _internal_error() -> ItemResult:
    return ItemResult.failed(SynapseError(500, "Item was not processed"))
