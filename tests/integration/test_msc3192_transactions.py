"""MSC3192 semantics 7 and 8: idempotency per access token and txnId, and rate
limiting with Synapse's rate limiter."""

import json
from typing import Any
from urllib.parse import quote

from synapse.api.errors import Codes
from synapse.types import JsonDict
from twisted.internet.defer import Deferred

from tests.integration.harness import forget_in_memory_transactions
from tests.integration.test_msc3192_base import (
    BATCH_PREFIX,
    BatchStateTestCase,
    state_items,
)


def items_with(value: int, count: int = 3) -> list[JsonDict]:
    return [
        {
            "event_type": "org.example.setting",
            "state_key": f"k{i}",
            "content": {"v": value},
        }
        for i in range(count)
    ]


class IdempotencyTestCase(BatchStateTestCase):
    def forget_in_memory_transactions(self) -> None:
        forget_in_memory_transactions(self.hs)

    def test_replay_after_a_restart_answers_the_first_response(self) -> None:
        # The steps: a batch, a later change by PUT /state, a restart,
        # and the client, which never saw the answer, retries.
        item = {"event_type": "com.example.u", "state_key": "u0", "content": {"j": 0}}
        first = self.batch([item], txn_id="T")
        self.assertEqual(first[0], 200, first)
        self.helper.send_state(
            self.room_id,
            "com.example.u",
            {"changed": "later"},
            tok=self.admin_token,
            state_key="u0",
        )
        count = self.event_count()
        self.forget_in_memory_transactions()
        self.assertEqual(self.batch([item], txn_id="T"), first)
        self.assertEqual(self.event_count(), count)
        self.assertEqual(self.state("com.example.u", "u0"), {"changed": "later"})

    def test_an_answer_for_the_items_is_remembered_across_a_restart(self) -> None:
        # The moderator may not send these: 403. Raised to power 100, a replay
        # still gets the 403 and sends nothing, in memory or from the database.
        forbidden = self.batch(items_with(1), token=self.mod_token, txn_id="m")
        self.assertEqual(forbidden[0], 403, forbidden)
        self.set_user_power(self.mod_id, 100)
        count = self.event_count()
        self.assertEqual(
            self.batch(items_with(1), token=self.mod_token, txn_id="m"), forbidden
        )
        self.forget_in_memory_transactions()
        self.assertEqual(
            self.batch(items_with(1), token=self.mod_token, txn_id="m"), forbidden
        )
        self.assertEqual(self.event_count(), count)

    def test_replay_returns_identical_response_and_creates_nothing(self) -> None:
        first = self.batch(items_with(1), txn_id="same")
        self.assertEqual(first[0], 200, first)
        count = self.event_count()
        # A replay, even with another body, is answered from the first request.
        replay = self.batch(items_with(2), txn_id="same")
        self.assertEqual(replay, first)
        self.assertEqual(self.event_count(), count)
        self.assertEqual(self.state("org.example.setting", "k0"), {"v": 1})

    def test_other_txn_id_is_a_new_request(self) -> None:
        first = self.batch(items_with(1), txn_id="a")
        second = self.batch(items_with(2), txn_id="b")
        self.assertEqual(second[0], 200, second)
        self.assertNotEqual(first[1], second[1])

    def test_other_access_token_is_a_new_request(self) -> None:
        other_token = self.login("owner", "password")
        first = self.batch(items_with(1), txn_id="a")
        second = self.batch(items_with(2), txn_id="a", token=other_token)
        self.assertEqual(second[0], 200, second)
        self.assertNotEqual(first[1], second[1])

    def test_replay_while_first_is_running_gets_identical_response(self) -> None:
        creation = self.hs.get_event_creation_handler()
        real_handle = creation.handle_new_client_event
        release: Deferred[None] = Deferred()
        calls = 0

        async def slow_handle(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            await release
            return await real_handle(*args, **kwargs)

        creation.handle_new_client_event = slow_handle
        count = self.event_count()
        path = f"{BATCH_PREFIX}/rooms/{quote(self.room_id)}/batch_state/slow"
        body = json.dumps(items_with(7)).encode()
        first = self.make_request(
            "PUT", path, body, access_token=self.admin_token, await_result=False
        )
        self.reactor.advance(0.1)
        second = self.make_request(
            "PUT", path, body, access_token=self.admin_token, await_result=False
        )
        self.reactor.advance(0.1)
        self.assertFalse(first.is_finished())
        self.assertFalse(second.is_finished())
        release.callback(None)
        first.await_result()
        second.await_result()
        self.assertEqual(first.code, 200, first.result)
        self.assertEqual(second.code, first.code)
        self.assertEqual(second.result["body"], first.result["body"])
        self.assertEqual(calls, 1)
        self.assertEqual(self.event_count(), count + 3)

    def test_failed_request_is_not_cached(self) -> None:
        # A 404 is not the transaction's outcome: a retry runs again.
        code, _ = self.batch(items_with(1), txn_id="t", room_id="!later:test")
        self.assertEqual(code, 404)
        code, body = self.batch(items_with(1), txn_id="t", room_id="!later:test")
        self.assertEqual(code, 404, body)
        # Nor is a body that fails validation: the transaction stays unused.
        code, body = self.batch([{"event_type": "a.b"}], txn_id="v")
        self.assertEqual(code, 400, body)
        self.forget_in_memory_transactions()
        code, body = self.batch(items_with(1), txn_id="v")
        self.assertEqual(code, 200, body)


class RateLimitTestCase(BatchStateTestCase):
    module_settings: JsonDict = {
        "msc3192": {"rate_limit": {"per_second": 0.1, "burst_count": 2}},
        "msc3895": {"enabled": False},
        "msc3902": {"enabled": False},
    }

    def test_over_the_limit_is_429_with_retry_after_and_writes_nothing(self) -> None:
        self.assertEqual(self.batch(items_with(1))[0], 200)
        self.assertEqual(self.batch(items_with(2))[0], 200)
        count = self.event_count()
        code, body = self.batch(items_with(3))
        self.assertEqual(code, 429, body)
        self.assertEqual(body["errcode"], Codes.LIMIT_EXCEEDED)
        self.assertGreater(body["retry_after_ms"], 0)
        self.assertEqual(self.event_count(), count)
        # After waiting, the same transaction goes through: a 429 is not cached.
        self.reactor.advance(body["retry_after_ms"] / 1000 + 1)
        code, body = self.batch(items_with(3), txn_id=f"txn{self._txn}")
        self.assertEqual(code, 200, body)

    def test_a_batch_costs_one_action_whatever_its_size(self) -> None:
        self.assertEqual(self.batch(state_items(50))[0], 200)
        self.assertEqual(self.batch(items_with(2))[0], 200)

    def test_replays_do_not_consume_rate_limit(self) -> None:
        first = self.batch(items_with(1), txn_id="once")
        for _ in range(5):
            self.assertEqual(self.batch(items_with(1), txn_id="once"), first)
        code, body = self.batch(items_with(2), txn_id="twice")
        self.assertEqual(code, 200, body)

    def test_limit_is_per_user(self) -> None:
        self.set_user_power(self.mod_id, 100)
        self.batch(items_with(1))
        self.batch(items_with(2))
        code, body = self.batch(items_with(3), token=self.mod_token)
        self.assertEqual(code, 200, body)

    def test_per_user_override_lifts_the_limit(self) -> None:
        _, root_token = self.register_admin("root")
        code, body = self.request_json(
            "POST",
            f"/_synapse/admin/v1/users/{quote(self.admin_id)}/override_ratelimit",
            {"messages_per_second": 0, "burst_count": 0},
            access_token=root_token,
        )
        self.assertEqual(code, 200, body)
        for value in range(5):
            code, body = self.batch(items_with(value))
            self.assertEqual(code, 200, body)
