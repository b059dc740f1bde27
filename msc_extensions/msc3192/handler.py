"""Applies a validated batch: idempotency, rate limit, ordering, status code.

The Synapse-specific work of creating events lives in
:mod:`msc_extensions._synapse_private.events`; this module decides what runs in
which order and what the client is told.
"""

import logging
from collections.abc import Callable, Sequence
from typing import Any

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.site import SynapseRequest
from synapse.types import JsonDict

from msc_extensions._synapse_private.events import BatchStateEvents, Requester
from msc_extensions.msc3192.items import BatchItem, ItemResult

logger = logging.getLogger(__name__)

#: Extra field of an error response: what went wrong with each item.
ERRORS_FIELD = "org.matrix.msc3192.errors"

Response = tuple[int, Any]


class BatchStateHandler:
    """Serves batch_state requests for one homeserver."""

    def __init__(self, make_events: Callable[[], BatchStateEvents]) -> None:
        # Synapse's handlers are built on first use, not while modules load.
        self._make_events = make_events
        self._events: BatchStateEvents | None = None

    @property
    def events(self) -> BatchStateEvents:
        if self._events is None:
            self._events = self._make_events()
        return self._events

    async def handle(
        self,
        request: SynapseRequest,
        requester: Requester,
        room_id: str,
        items: Sequence[BatchItem],
    ) -> Response:
        """Apply ``items`` once per transaction. A replay gets the first response,
        and costs no rate limit, since the rate limit is taken inside."""

        async def run() -> Response:
            return await self._run(requester, room_id, items)

        return await self.events.fetch_or_execute(request, requester, run)

    async def _run(
        self, requester: Requester, room_id: str, items: Sequence[BatchItem]
    ) -> Response:
        if not await self.events.room_exists(room_id):
            raise NotFoundError(f"Unknown room {room_id}")
        await self.events.ratelimit(requester)
        results = await self.apply(requester, room_id, items)
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
        """Apply the items in order. Consecutive plain state items go through the
        batch path together; membership items, and every item in a room the batch
        path cannot serve, go one by one through Synapse's single-event paths."""
        events = self.events
        is_admin = await events.is_server_admin(requester)
        batchable = await events.can_batch(room_id)
        results: list[ItemResult | None] = [None] * len(items)
        run: list[BatchItem] = []

        async def flush() -> None:
            if not run:
                return
            for item, result in zip(
                run,
                await self._send_run(requester, room_id, run, is_admin),
                strict=True,
            ):
                results[item.index] = result
            run.clear()

        for item in items:
            if (
                batchable
                and not item.is_membership
                and not events.needs_single_send(item)
            ):
                run.append(item)
                continue
            await flush()
            results[item.index] = await self._send_one(
                requester, room_id, item, is_admin
            )
        await flush()
        return [
            r if r is not None else ItemResult.failed(_unexpected()) for r in results
        ]

    async def _send_run(
        self,
        requester: Requester,
        room_id: str,
        run: Sequence[BatchItem],
        is_admin: bool,
    ) -> list[ItemResult]:
        try:
            return await self.events.send_batch(requester, room_id, run, is_admin)
        except SynapseError as e:
            logger.warning("batch_state into %s failed as a whole: %s", room_id, e)
            return [ItemResult.failed(e) for _ in run]
        except Exception:
            logger.exception("batch_state into %s failed as a whole", room_id)
            return [ItemResult.failed(_unexpected()) for _ in run]

    async def _send_one(
        self, requester: Requester, room_id: str, item: BatchItem, is_admin: bool
    ) -> ItemResult:
        events = self.events
        try:
            await events.check_may_send_state(requester, room_id, item, is_admin)
            if item.is_membership:
                event_id = await events.send_membership(requester, room_id, item)
            else:
                event_id = await events.send_single(requester, room_id, item)
        except SynapseError as e:
            logger.info("batch_state item %d in %s: %s", item.index, room_id, e)
            return ItemResult.failed(e)
        except Exception:
            logger.exception("batch_state item %d in %s", item.index, room_id)
            return ItemResult.failed(_unexpected())
        return ItemResult.sent(event_id)


def response_for(items: Sequence[BatchItem], results: Sequence[ItemResult]) -> Response:
    """200 with the event IDs if any item produced one; otherwise 403 when every
    item was forbidden, and 400 for anything else."""
    if any(r.event_id is not None for r in results):
        return 200, [r.event_id for r in results]

    failures = [
        (item.index, r.error or _unexpected())
        for item, r in zip(items, results, strict=True)
    ]
    details = [
        {"index": index, "errcode": error.errcode, "error": error.msg}
        for index, error in failures
    ]
    summary = "; ".join(f"item {index}: {error.msg}" for index, error in failures)
    if all(error.code == 403 for _, error in failures):
        return 403, _error_body(
            Codes.FORBIDDEN,
            f"You may not send any of these state events: {summary}",
            details,
        )
    first_other = next(error for _, error in failures if error.code != 403)
    return 400, _error_body(
        first_other.errcode or Codes.UNKNOWN,
        f"No state event was sent: {summary}",
        details,
    )


def _error_body(errcode: str, error: str, details: list[JsonDict]) -> JsonDict:
    return {"errcode": errcode, "error": error, ERRORS_FIELD: details}


def _unexpected() -> SynapseError:
    return SynapseError(500, "Internal error while sending this item", Codes.UNKNOWN)
