"""Applies a validated batch: rate limit, which items go which way, the answer.

The servlet has authenticated the request, parsed the body and made the request
idempotent; everything here runs once per transaction. Plain state items, and
changes to other local users' memberships, go through
:mod:`msc_extensions.msc3192.batch` in runs; every other item, and every item the
batch path cannot serve, goes one at a time through Synapse's own single-event
paths.
"""

import logging
from collections.abc import Sequence

from synapse.api.constants import EventTypes
from synapse.api.errors import NotFoundError

from msc_extensions._synapse_private.ratelimiting import UserRatelimiter
from msc_extensions._synapse_private.requesters import Requester, ServerAdmins
from msc_extensions._synapse_private.room_reads import RoomReads
from msc_extensions._synapse_private.single_sends import SingleSends
from msc_extensions._synapse_private.spam_checks import SpamChecks
from msc_extensions.msc3192.batch import StateBatch
from msc_extensions.msc3192.checks import check_may_send_state
from msc_extensions.msc3192.items import BatchItem, ItemResult
from msc_extensions.msc3192.membership import batchable_membership
from msc_extensions.msc3192.metrics import BatchStateMetrics
from msc_extensions.msc3192.outcomes import attempt
from msc_extensions.msc3192.response import Response, response_for

logger = logging.getLogger(__name__)

#: State event types whose checks Synapse's batch persistence runs only at persist
#: time, where one failure would drop the whole batch: sent one by one instead.
SINGLE_SEND_TYPES = frozenset({EventTypes.CanonicalAlias})


class BatchStateHandler:
    """Serves batch_state requests for one homeserver."""

    def __init__(
        self,
        rooms: RoomReads,
        ratelimiter: UserRatelimiter,
        admins: ServerAdmins,
        spam: SpamChecks,
        single_sends: SingleSends,
        batch: StateBatch,
        metrics: BatchStateMetrics,
    ) -> None:
        self._rooms = rooms
        self._ratelimiter = ratelimiter
        self._admins = admins
        self._spam = spam
        self._single_sends = single_sends
        self._batch = batch
        self._metrics = metrics

    async def handle(
        self, requester: Requester, room_id: str, items: Sequence[BatchItem]
    ) -> Response:
        """Apply ``items`` and build the answer. The rate limit is taken here,
        inside the servlet's idempotent section, so a replay costs none.

        Raises:
            NotFoundError: the server does not know the room.
            LimitExceededError: the requester is over the rate limit.
        """
        if not await self._rooms.exists(room_id):
            raise NotFoundError(f"Unknown room {room_id}")
        await self._ratelimiter.ratelimit(requester)
        results = await self.apply(requester, room_id, items)
        self._metrics.batch_applied(results)
        # One line per batch, so that admins can watch for bulk state changes
        # (the proposal's security considerations).
        logger.info(
            "batch_state by %s in %s: %d items, %d event IDs, %d failed",
            requester.user.to_string(),
            room_id,
            len(items),
            sum(r.event_id is not None for r in results),
            sum(r.event_id is None for r in results),
        )
        return response_for(items, results)

    async def apply(
        self, requester: Requester, room_id: str, items: Sequence[BatchItem]
    ) -> list[ItemResult]:
        """Apply the items in order. Consecutive items the batch path serves go
        through it together; the others (see :func:`_needs_single_send`), and
        every item in a room the batch path cannot serve, go one by one through
        Synapse's single-event paths."""
        is_admin = await self._admins.is_server_admin(requester)
        batchable = await self._can_batch(room_id)
        # Synapse's membership rules differ in a room this server has left.
        members_batchable = batchable and await self._rooms.is_server_in_room(room_id)
        results: list[ItemResult] = []
        run: list[BatchItem] = []
        for item in items:
            if batchable and not _needs_single_send(requester, item, members_batchable):
                run.append(item)
                continue
            results += await self._send_run(requester, room_id, run, is_admin)
            run = []
            results.append(
                await attempt(
                    room_id,
                    (item,),
                    self._send_single(requester, room_id, item, is_admin),
                )
            )
        results += await self._send_run(requester, room_id, run, is_admin)
        return results

    async def _can_batch(self, room_id: str) -> bool:
        """Whether the batch path applies: it needs full state and no state DAG."""
        if await self._rooms.is_partial_state(room_id):
            return False
        return not await self._rooms.uses_state_dags(room_id)

    async def _send_run(
        self,
        requester: Requester,
        room_id: str,
        run: Sequence[BatchItem],
        is_admin: bool,
    ) -> list[ItemResult]:
        if not run:
            return []
        outcome = await attempt(
            room_id, run, self._batch.send(requester, room_id, run, is_admin)
        )
        if isinstance(outcome, ItemResult):
            # The run failed as a whole: none of its events was sent.
            return [outcome for _ in run]
        return outcome

    async def _send_single(
        self, requester: Requester, room_id: str, item: BatchItem, is_admin: bool
    ) -> ItemResult:
        """What ``PUT /state`` does for the item."""
        await check_may_send_state(self._spam, requester, room_id, item, is_admin)
        if item.is_membership:
            event_id = await self._single_sends.send_membership(
                requester,
                room_id,
                target=item.state_key,
                membership=item.content["membership"],
                content=item.content,
            )
        else:
            event_id = await self._single_sends.send_state_event(
                requester, item.event_dict(room_id, requester.user.to_string())
            )
        return ItemResult.sent(event_id)


def _needs_single_send(
    requester: Requester, item: BatchItem, members_batchable: bool
) -> bool:
    """Whether the item goes through Synapse's single path: the types in
    :data:`SINGLE_SEND_TYPES`, and membership items other than those
    :func:`.batchable_membership` allows (or all of them, when the batch may not
    change memberships)."""
    if item.is_membership:
        return not (members_batchable and batchable_membership(requester, item))
    return item.event_type in SINGLE_SEND_TYPES
