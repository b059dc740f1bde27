"""The shared transaction service: what a replay gets, from memory or from the
database, for whom, and for how long.

Two services on one database stand for two processes (workers, or one process
before and after a restart): what the first remembered, the second answers.
"""

from typing import Any, cast
from urllib.parse import quote

from synapse.api.errors import Codes, SynapseError
from synapse.http.site import SynapseRequest
from synapse.module_api import LoggingTransaction
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor

from msc_extensions._synapse_private.requesters import Requester
from msc_extensions.transactions.service import PersistedTransactions
from msc_extensions.transactions.store import RETENTION_MS, TABLE
from tests.integration.harness import ModuleTestCase

ENDPOINT = "test.endpoint"


class _Request:
    """What the service reads of a request: its path."""

    def __init__(self, path: str) -> None:
        self.path = path.encode()


def request(path: str) -> Any:
    return cast(SynapseRequest, _Request(path))


def path_of(endpoint: str, txn_id: str, room_id: str = "!r:test") -> str:
    return f"/_matrix/client/unstable/{endpoint}/rooms/{room_id}/do/{txn_id}"


class PersistedTransactionsTestCase(ModuleTestCase):
    module_settings: JsonDict = {"msc3895": {"enabled": False}}

    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        self.user_id = self.register_user("alice", "password")
        self.token = self.login("alice", "password")
        self.api = hs.get_module_api()
        self.first = PersistedTransactions(self.api, hs)
        self.second = PersistedTransactions(self.api, hs)
        self.runs = 0

    def requester(self, token: str) -> Requester:
        requester: Requester = self.get_success(
            self.hs.get_auth().get_user_by_access_token(token)
        )
        return requester

    def fetch(
        self,
        service: PersistedTransactions,
        token: str | None = None,
        txn_id: str = "t1",
        endpoint: str = ENDPOINT,
        path: str | None = None,
        answer: tuple[int, Any] = (200, {"ok": True}),
    ) -> tuple[int, Any]:
        async def run() -> tuple[int, Any]:
            self.runs += 1
            return answer[0], {**answer[1], "run": self.runs}

        response: tuple[int, Any] = self.get_success(
            service.fetch_or_execute(
                endpoint,
                request(path or path_of(endpoint, txn_id)),
                self.requester(token or self.token),
                txn_id,
                run,
            )
        )
        return response

    def rows(self) -> int:
        def count_txn(txn: LoggingTransaction) -> int:
            txn.execute(f"SELECT COUNT(*) FROM {TABLE}")
            row = txn.fetchone()
            assert row is not None
            return int(row[0])

        count: int = self.get_success(self.api.run_db_interaction("count", count_txn))
        return count

    def test_a_replay_on_another_process_gets_the_first_response(self) -> None:
        first = self.fetch(self.first)
        self.assertEqual(self.fetch(self.second), first)
        self.assertEqual(self.runs, 1)
        self.assertEqual(self.rows(), 1)

    def test_other_txn_ids_endpoints_paths_and_devices_are_other_transactions(
        self,
    ) -> None:
        self.fetch(self.first)
        self.fetch(self.second, txn_id="t2")
        self.fetch(self.second, endpoint="test.other")
        self.fetch(self.second, path=path_of(ENDPOINT, "t1", "!s:test"))
        self.fetch(self.second, token=self.login("alice", "password"))
        self.assertEqual(self.runs, 5)

    def test_the_same_device_with_a_new_token_shares_transactions(self) -> None:
        # A refreshed or second token of one device: the device is the scope.
        first = self.fetch(self.first)
        device_id = self.requester(self.token).device_id
        other_token = self.login("alice", "password", device_id=device_id)
        self.assertEqual(self.fetch(self.second, token=other_token), first)

    def test_a_device_less_token_is_its_own_scope(self) -> None:
        _, admin_token = self.register_admin("root")
        code, body = self.request_json(
            "POST",
            f"/_synapse/admin/v1/users/{quote(self.user_id)}/login",
            {},
            access_token=admin_token,
        )
        self.assertEqual(code, 200, body)
        puppet = body["access_token"]
        self.assertIsNone(self.requester(puppet).device_id)
        first = self.fetch(self.first, token=puppet)
        self.assertEqual(self.fetch(self.second, token=puppet), first)
        self.assertNotEqual(self.fetch(self.second), first)
        # Logging the token out forgets its transactions.
        self.get_success(self.hs.get_auth_handler().delete_access_token(puppet))
        self.assertEqual(self.rows(), 1)

    def test_deleting_the_device_forgets_its_transactions(self) -> None:
        self.fetch(self.first)
        device_id = self.requester(self.token).device_id
        assert device_id is not None
        self.get_success(
            self.hs.get_device_handler().delete_devices(self.user_id, [device_id])
        )
        self.assertEqual(self.rows(), 0)
        # The same device ID, logged in again, is a new device: it runs anew.
        token = self.login("alice", "password", device_id=device_id)
        self.fetch(self.second, token=token)
        self.assertEqual(self.runs, 2)

    def test_answers_the_run_returns_are_remembered_whatever_their_status(
        self,
    ) -> None:
        forbidden = self.fetch(self.first, answer=(403, {"errcode": "M_FORBIDDEN"}))
        self.assertEqual(forbidden[0], 403)
        self.assertEqual(self.fetch(self.second), forbidden)
        self.assertEqual(self.runs, 1)

    def test_a_run_that_raises_is_not_remembered(self) -> None:
        async def fail() -> tuple[int, Any]:
            raise SynapseError(429, "later", Codes.LIMIT_EXCEEDED)

        failure = self.get_failure(
            self.first.fetch_or_execute(
                ENDPOINT,
                request(path_of(ENDPOINT, "t1")),
                self.requester(self.token),
                "t1",
                fail,
            ),
            SynapseError,
        )
        self.assertEqual(failure.value.code, 429)
        self.assertEqual(self.rows(), 0)
        self.fetch(self.first)
        self.assertEqual(self.runs, 1)

    def test_responses_are_kept_for_a_day(self) -> None:
        self.fetch(self.first)
        self.reactor.advance((RETENTION_MS - 60_000) / 1000)
        self.fetch(self.second)
        self.assertEqual(self.runs, 1)
        # Past a day, a replay runs again, even before the expiry has run (the
        # first process's memory forgot it long ago)...
        self.reactor.advance(120)
        self.fetch(self.first)
        self.assertEqual(self.runs, 2)
        # ... which it remembers afresh; and the expiry deletes what is older
        # than a day.
        third = PersistedTransactions(self.api, self.hs)
        self.assertEqual(self.fetch(third)[1]["run"], 2)
        self.reactor.advance(RETENTION_MS / 1000 + 1)
        self.get_success(self.first.expire())
        self.assertEqual(self.rows(), 0)

    def test_the_module_expires_rows_in_the_background(self) -> None:
        self.fetch(self.first)
        self.assertEqual(self.rows(), 1)
        # The module's own service runs the expiry every five minutes.
        self.reactor.advance(RETENTION_MS / 1000 + 600)
        self.assertEqual(self.rows(), 0)

    def test_a_txn_id_with_a_nul_character_is_refused(self) -> None:
        failure = self.get_failure(
            self.first.fetch_or_execute(
                ENDPOINT,
                request(path_of(ENDPOINT, "a%00b")),
                self.requester(self.token),
                "a\x00b",
                lambda: self.fail("ran"),
            ),
            SynapseError,
        )
        self.assertEqual(
            (failure.value.code, failure.value.errcode), (400, Codes.INVALID_PARAM)
        )
