"""Private APIs for running Synapse's push-rule evaluator over a batch's events
with two database round trips per batch rather than two per event.

Synapse's push-rule evaluator works out, event by event, whom each new event
notifies. For a membership event that another user sends about a user of this
server it first reads, from the database, whether that target is joined; and it
writes each event's answer into the staging table in a transaction of its own,
which persisting the event then moves into the table of notifications. For a
batch of 50 invites that is 100 of the batch's 120 database transactions.

While a batch runs :meth:`BatchPushEvaluation.grouped`, and only for the
batch's own events:

- the answers are kept in memory and written together, in one transaction, once
  the evaluator has gone through every event of the batch;
- the joined check is answered from Synapse's cached list of the room's joined
  local users, which holds exactly what that check reads, as it is at the time
  of each check: the push-rule evaluator reads the same list for every event
  that is not a membership event.

Every other event, of other requests running at the same time included, is
evaluated and staged as before.

What this file relies on:

1. ``EventPushActionsWorkerStore.add_push_actions_to_staging(event_id,
   user_id_actions, count_as_unread, thread_id)``: writes nothing for an empty
   ``user_id_actions``, and otherwise one row per user into
   ``event_push_actions_staging`` (``event_id``, ``user_id``, ``actions`` as
   ``_serialize_action(actions, is_highlight)``, ``notif``, ``highlight`` as
   ``_action_has_highlight(actions)``, ``unread``, ``thread_id``,
   ``inserted_ts``) with ``simple_insert_many``, a transaction of its own. The
   two helpers are module functions of
   ``synapse.storage.databases.main.event_push_actions``.
2. ``BulkPushRuleEvaluator.action_for_events_by_user(events_and_context)``
   (``hs.get_bulk_push_rule_evaluator()``, one per homeserver): evaluates the
   events one after another and stages each event's answer through (1), on the
   process that creates the events. ``EventCreationHandler._persist_events``
   calls it before it persists the events itself or sends them to the event
   persister over replication, and deletes the staged rows of every event if
   that fails (``remove_push_actions_from_staging``).
3. Persisting reads the staged rows of each event from the database
   (``PersistEventsStore._set_push_actions_for_event_and_users_txn``), in the
   transaction that stores the event, on whichever process persists it.
4. ``RoomMemberWorkerStore.check_local_user_in_room(user_id, room_id)``, which
   the evaluator calls through the store for such a target (not cached): whether
   ``local_current_membership`` holds a ``join`` for the pair. The ``@cached``
   ``get_local_users_in_room(room_id)`` reads the users of that table with a
   ``join`` in the room, and Synapse invalidates it whenever the room's
   membership changes.
5. Twisted runs each coroutine chain (``Deferred.fromCoroutine``, which
   ``ensureDeferred`` and Synapse's ``run_in_background`` use) in a copy of the
   ``contextvars`` context it was started in, so a ``ContextVar`` set while the
   batch is evaluated is seen by the evaluator's calls for the batch and by no
   other request.
"""

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from synapse.events.snapshot import EventPersistencePair
from synapse.server import HomeServer
from synapse.storage.database import LoggingTransaction
from synapse.storage.databases.main.event_push_actions import (
    _action_has_highlight,
    _serialize_action,
)

#: A row of ``event_push_actions_staging``, in the order of :data:`_COLUMNS`.
_Row = tuple[str, str, str, int, int, int, str, int]

_COLUMNS = (
    "event_id",
    "user_id",
    "actions",
    "notif",
    "highlight",
    "unread",
    "thread_id",
    "inserted_ts",
)

#: A room's joined local users as Synapse's cache returned them (4), with the
#: same users as a set.
_JoinedUsers = tuple[Sequence[str], frozenset[str]]

#: While a batch is evaluated (5): the sets made of the joined local users of
#: its rooms, by room. Emptied when the evaluation ends, so a task started
#: during it and still running afterwards asks the database again.
_JOINED_DURING_BATCH: ContextVar[dict[str, _JoinedUsers] | None] = ContextVar(
    "msc_extensions_joined_during_batch", default=None
)

_INSTANCES: "WeakKeyDictionary[HomeServer, BatchPushEvaluation]" = WeakKeyDictionary()


class BatchPushEvaluation:
    """Runs the push-rule evaluator over a batch's events with one joined-users
    read and one staging transaction. One per homeserver (:meth:`of`)."""

    @classmethod
    def of(cls, hs: HomeServer) -> "BatchPushEvaluation":
        """The instance of ``hs``, installed on first use."""
        evaluation = _INSTANCES.get(hs)
        if evaluation is None:
            evaluation = _INSTANCES[hs] = cls(hs)
        return evaluation

    def __init__(self, hs: HomeServer) -> None:
        self._store: Any = hs.get_datastores().main
        self._clock = hs.get_clock()
        self._is_mine_id = hs.is_mine_id
        #: The event IDs of the batches running now, each with its batch's rows
        #: not written yet (one list shared by the events of a batch).
        self._pending: dict[str, list[_Row]] = {}
        self._install(hs)

    @contextmanager
    def grouped(self, event_ids: Collection[str]) -> Iterator[None]:
        """While this runs, evaluate ``event_ids`` as a batch: their
        notifications kept in memory while Synapse evaluates them (1), written
        in one transaction when its evaluation of the events is done (2), before
        they are persisted (3); and the joined check answered from the cache
        (4). Whatever is not written when this ends is dropped."""
        rows: list[_Row] = []
        for event_id in event_ids:
            self._pending[event_id] = rows
        try:
            yield
        finally:
            for event_id in event_ids:
                self._pending.pop(event_id, None)
            rows.clear()

    def _install(self, hs: HomeServer) -> None:
        store = self._store
        evaluator: Any = hs.get_bulk_push_rule_evaluator()
        stage_one_event = store.add_push_actions_to_staging
        read_whether_joined = store.check_local_user_in_room
        evaluate = evaluator.action_for_events_by_user

        async def add_push_actions_to_staging(
            event_id: str,
            user_id_actions: Mapping[str, Collection[Mapping[str, Any] | str]],
            count_as_unread: bool,
            thread_id: str,
        ) -> None:
            rows = self._pending.get(event_id)
            if rows is None:
                await stage_one_event(
                    event_id, user_id_actions, count_as_unread, thread_id
                )
                return
            rows.extend(
                self._row(event_id, user_id, actions, count_as_unread, thread_id)
                for user_id, actions in user_id_actions.items()
            )

        async def check_local_user_in_room(user_id: str, room_id: str) -> bool:
            joined = _JOINED_DURING_BATCH.get()
            if joined is not None and self._is_mine_id(user_id):
                return user_id in await self._joined_local_users(joined, room_id)
            joined_now: bool = await read_whether_joined(user_id, room_id)
            return joined_now

        async def action_for_events_by_user(
            events_and_context: list[EventPersistencePair],
        ) -> None:
            batches = self._batches_of(events_and_context)
            if not batches:
                await evaluate(events_and_context)
                return
            joined: dict[str, _JoinedUsers] = {}
            evaluating = _JOINED_DURING_BATCH.set(joined)
            try:
                await evaluate(events_and_context)
            except BaseException:
                for rows in batches:
                    rows.clear()
                raise
            finally:
                joined.clear()
                _JOINED_DURING_BATCH.reset(evaluating)
            for rows in batches:
                await self._write(rows)

        store.add_push_actions_to_staging = add_push_actions_to_staging
        store.check_local_user_in_room = check_local_user_in_room
        evaluator.action_for_events_by_user = action_for_events_by_user

    def _batches_of(
        self, events_and_context: Sequence[EventPersistencePair]
    ) -> list[list[_Row]]:
        """The row lists of the batches that ``events_and_context`` belong to."""
        batches: list[list[_Row]] = []
        for event, _ in events_and_context:
            rows = self._pending.get(event.event_id)
            if rows is not None and not any(rows is known for known in batches):
                batches.append(rows)
        return batches

    async def _joined_local_users(
        self, joined: dict[str, _JoinedUsers], room_id: str
    ) -> frozenset[str]:
        """(4) The joined local users of ``room_id`` as Synapse's cache holds
        them now, as a set made again only when the cache's list is not the one
        it was made of (the cache was invalidated since)."""
        users: Sequence[str] = await self._store.get_local_users_in_room(room_id)
        known = joined.get(room_id)
        if known is None or known[0] is not users:
            known = joined[room_id] = (users, frozenset(users))
        return known[1]

    def _row(
        self,
        event_id: str,
        user_id: str,
        actions: Collection[Mapping[str, Any] | str],
        count_as_unread: bool,
        thread_id: str,
    ) -> _Row:
        """(1) The row Synapse stages for ``user_id``."""
        highlight = 1 if _action_has_highlight(actions) else 0
        return (
            event_id,
            user_id,
            _serialize_action(actions, bool(highlight)),
            1 if "notify" in actions else 0,
            highlight,
            int(count_as_unread),
            thread_id,
            self._clock.time_msec(),
        )

    async def _write(self, rows: list[_Row]) -> None:
        """Write ``rows`` in one transaction, and forget them."""
        if not rows:
            return
        values = list(rows)
        rows.clear()

        def stage_txn(txn: LoggingTransaction) -> None:
            self._store.db_pool.simple_insert_many_txn(
                txn, "event_push_actions_staging", keys=_COLUMNS, values=values
            )

        await self._store.db_pool.runInteraction(
            "msc_extensions_stage_batch_push_actions", stage_txn
        )
