"""The one transaction service of a homeserver.

``PUT`` endpoints that take a transaction ID call
:meth:`PersistedTransactions.fetch_or_execute`. A replay (same endpoint, same
scope: user and device, or the access token when there is no device; same
transaction ID and request path) gets the first request's response and runs
nothing:

- while the first is still running, or within 30 to 60 minutes in the same
  process, from Synapse's own in-memory transaction cache, as ``PUT /send`` does;
- afterwards, after a restart, or on another worker, from the
  ``msc_extensions_transactions`` table (:mod:`.store`), written once the first
  request has its response, before it is sent. Rows are kept for a day, as
  Synapse keeps ``/send``'s transaction IDs, and go with the device (or
  device-less token) they belong to.

What ``run`` returns is remembered, whatever its status: an answer the endpoint
gave for the transaction (a 403 because every item was forbidden, say) is the
answer to its replays too, wherever and whenever they arrive. What ``run`` raises
is not: the request failed before it was served (unknown room, rate limited) and
a retry runs again, as with Synapse's own cache.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from synapse.api.errors import Codes, SynapseError
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions._synapse_private.requesters import Requester
from msc_extensions._synapse_private.resources import HomeServer
from msc_extensions._synapse_private.transactions import (
    TransactionCache,
    request_path,
    transaction_scope,
)
from msc_extensions.transactions.store import (
    RETENTION_MS,
    TransactionKey,
    TransactionStore,
)

logger = logging.getLogger(__name__)

#: How often expired rows are deleted, on the process that runs background tasks
#: (as Synapse expires ``event_txn_id_device_id``).
EXPIRY_INTERVAL_MS = 5 * 60 * 1000

#: How many times creating the table is tried at once: another process may be
#: creating it at the same moment, which PostgreSQL can answer with an error.
_CREATE_ATTEMPTS = 3


class PersistedTransactions:
    """Idempotent ``PUT .../{txnId}`` requests, across restarts and workers."""

    def __init__(self, api: ModuleApi, hs: HomeServer) -> None:
        self._api = api
        self._store = TransactionStore(api)
        self._in_memory = TransactionCache(hs)
        self._table_ready = False

    def start(self) -> None:
        """Create the table now, rather than on the first request, and expire old
        rows every few minutes on the process that runs background tasks."""
        self._api.run_as_background_process(
            "msc_extensions_transactions_table", self._ensure_table
        )
        self._api.looping_background_call(
            self.expire, EXPIRY_INTERVAL_MS, desc="msc_extensions_expire_transactions"
        )

    async def fetch_or_execute(
        self,
        endpoint: str,
        request: SynapseRequest,
        requester: Requester,
        txn_id: str,
        run: Callable[[], Awaitable[tuple[int, JsonDict | list[Any]]]],
    ) -> tuple[int, Any]:
        """The response to this transaction: the first request's if there was
        one, or ``run``'s, which runs once.

        Args:
            endpoint: names the endpoint, e.g. ``"msc3192.batch_state"``.
            request: the request, whose path is part of the transaction.
            requester: who made it; their device (or access token, without a
                device) is part of the transaction.
            txn_id: the transaction ID from the path.
            run: serves the request; what it returns is remembered, what it
                raises is not.
        """
        if "\x00" in txn_id:
            # Neither database can store it (PostgreSQL refuses NUL in text).
            raise SynapseError(
                400,
                "The transaction ID must not contain NUL characters",
                Codes.INVALID_PARAM,
            )
        key = TransactionKey(
            endpoint=endpoint,
            scope=transaction_scope(requester),
            txn_id=txn_id,
            request_path=request_path(request),
        )
        return await self._in_memory.fetch_or_execute(
            request, requester, lambda: self._fetch_or_run(key, run)
        )

    async def _fetch_or_run(
        self,
        key: TransactionKey,
        run: Callable[[], Awaitable[tuple[int, JsonDict | list[Any]]]],
    ) -> tuple[int, Any]:
        await self._ensure_table()
        now = self._api.get_current_time_msec()
        remembered = await self._store.get_response(key, now - RETENTION_MS)
        if remembered is not None:
            logger.info(
                "%s: transaction %r of %s answered from the database",
                key.endpoint,
                key.txn_id,
                key.scope.user_id,
            )
            return remembered
        response = await run()
        try:
            await self._store.remember_response(
                key, response, self._api.get_current_time_msec()
            )
        except Exception:
            # The request was served: answer it. A replay that reaches another
            # process, or this one after a restart, runs again.
            logger.warning(
                "%s: could not remember transaction %r of %s",
                key.endpoint,
                key.txn_id,
                key.scope.user_id,
                exc_info=True,
            )
        return response

    async def _ensure_table(self) -> None:
        if self._table_ready:
            return
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                await self._store.create_table()
            except Exception:
                if attempt == _CREATE_ATTEMPTS:
                    raise
                logger.info("Creating the transactions table failed; retrying")
            else:
                break
        self._table_ready = True

    async def expire(self) -> None:
        """Delete rows older than a day."""
        await self._ensure_table()
        deleted = await self._store.delete_expired(
            self._api.get_current_time_msec() - RETENTION_MS
        )
        if deleted:
            logger.info("Expired %d remembered transactions", deleted)
