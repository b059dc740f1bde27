"""The ``msc_extensions_transactions`` table: the response to each transaction ID,
for a day.

One row per (endpoint, scope, transaction ID, request path), where the scope is
whose transaction it is (:class:`TransactionScope`: a device, a device-less access
token, an application service or a guest). A device's rows refer to Synapse's
``devices`` table and a device-less token's rows to ``access_tokens``, both with
``ON DELETE CASCADE``, as Synapse's own ``event_txn_id_device_id`` does: when the
device (or token) is deleted, so is what was remembered for it.
"""

import json
from typing import Any

import attr
from synapse.module_api import LoggingTransaction, ModuleApi

from msc_extensions._synapse_private.transactions import (
    ACCESS_TOKENS_REFERENCE,
    DEVICES_REFERENCE,
    TransactionScope,
)

TABLE = "msc_extensions_transactions"

#: How long a response is remembered, as Synapse remembers ``/send``'s
#: transaction IDs in ``event_txn_id_device_id``: a day.
RETENTION_MS = 24 * 60 * 60 * 1000

# Both SQLite and PostgreSQL: BIGINT, TEXT, IF NOT EXISTS, foreign keys.
_CREATE_STATEMENTS = (
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        endpoint TEXT NOT NULL,
        scope TEXT NOT NULL,
        txn_id TEXT NOT NULL,
        request_path TEXT NOT NULL,
        user_id TEXT NOT NULL,
        device_id TEXT,
        access_token_id BIGINT,
        response_code INTEGER NOT NULL,
        response_json TEXT NOT NULL,
        inserted_ts BIGINT NOT NULL,
        FOREIGN KEY (user_id, device_id)
            REFERENCES {DEVICES_REFERENCE} ON DELETE CASCADE,
        FOREIGN KEY (access_token_id)
            REFERENCES {ACCESS_TOKENS_REFERENCE} ON DELETE CASCADE
    )
    """,
    f"""
    CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_key
        ON {TABLE} (endpoint, scope, txn_id, request_path)
    """,
    # Expiry deletes the oldest rows.
    f"CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (inserted_ts)",
    # Deleting a device or token looks up its rows.
    f"CREATE INDEX IF NOT EXISTS {TABLE}_device ON {TABLE} (user_id, device_id)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_token ON {TABLE} (access_token_id)",
)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TransactionKey:
    """One transaction: the endpoint, whose it is, its ID, and the request path
    (two rooms are two transactions, as Synapse's in-memory cache has it)."""

    endpoint: str
    scope: TransactionScope
    txn_id: str
    request_path: str


def create_table_txn(txn: LoggingTransaction) -> None:
    for statement in _CREATE_STATEMENTS:
        txn.execute(statement)


def get_response_txn(
    txn: LoggingTransaction, key: TransactionKey, not_before_ms: int
) -> tuple[int, Any] | None:
    """The response remembered for ``key`` since ``not_before_ms``, if any."""
    txn.execute(
        f"""
        SELECT response_code, response_json FROM {TABLE}
        WHERE endpoint = ? AND scope = ? AND txn_id = ? AND request_path = ?
            AND inserted_ts >= ?
        """,
        (key.endpoint, key.scope.key, key.txn_id, key.request_path, not_before_ms),
    )
    row = txn.fetchone()
    if row is None:
        return None
    return int(row[0]), json.loads(row[1])


def remember_response_txn(
    txn: LoggingTransaction,
    key: TransactionKey,
    response: tuple[int, Any],
    now_ms: int,
) -> None:
    """Remember ``response`` for ``key``, unless one is already remembered since
    a day: the first answer stays (a concurrent run of the same transaction on
    another process answered first); an expired one is replaced."""
    code, body = response
    txn.execute(
        f"""
        INSERT INTO {TABLE} (
            endpoint, scope, txn_id, request_path, user_id, device_id,
            access_token_id, response_code, response_json, inserted_ts
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (endpoint, scope, txn_id, request_path) DO UPDATE SET
            user_id = excluded.user_id,
            device_id = excluded.device_id,
            access_token_id = excluded.access_token_id,
            response_code = excluded.response_code,
            response_json = excluded.response_json,
            inserted_ts = excluded.inserted_ts
        WHERE {TABLE}.inserted_ts < ?
        """,
        (
            key.endpoint,
            key.scope.key,
            key.txn_id,
            key.request_path,
            key.scope.user_id,
            key.scope.device_id,
            key.scope.access_token_id,
            code,
            json.dumps(body, ensure_ascii=True, allow_nan=False),
            now_ms,
            now_ms - RETENTION_MS,
        ),
    )


def delete_expired_txn(txn: LoggingTransaction, before_ms: int) -> int:
    """Delete the rows inserted before ``before_ms``; how many there were."""
    txn.execute(f"DELETE FROM {TABLE} WHERE inserted_ts < ?", (before_ms,))
    return int(txn.rowcount)


class TransactionStore:
    """Runs the SQL above through Synapse's database pool."""

    def __init__(self, api: ModuleApi) -> None:
        self._api = api

    async def create_table(self) -> None:
        await self._api.run_db_interaction(
            "msc_extensions_create_transactions_table", create_table_txn
        )

    async def get_response(
        self, key: TransactionKey, not_before_ms: int
    ) -> tuple[int, Any] | None:
        return await self._api.run_db_interaction(
            "msc_extensions_get_transaction", get_response_txn, key, not_before_ms
        )

    async def remember_response(
        self, key: TransactionKey, response: tuple[int, Any], now_ms: int
    ) -> None:
        await self._api.run_db_interaction(
            "msc_extensions_remember_transaction",
            remember_response_txn,
            key,
            response,
            now_ms,
        )

    async def delete_expired(self, before_ms: int) -> int:
        return await self._api.run_db_interaction(
            "msc_extensions_expire_transactions", delete_expired_txn, before_ms
        )
