"""MSC3192 semantics 9 and 10: partial-state rooms, concurrent sends, bounded
state-group delta chains."""

import json
from urllib.parse import quote

from synapse.storage.databases.state.store import MAX_STATE_DELTA_HOPS

from tests.integration.test_msc3192_base import (
    BATCH_PREFIX,
    BatchStateTestCase,
    state_items,
)


class PartialStateRoomTestCase(BatchStateTestCase):
    def mark_partial_state(self) -> None:
        self.get_success(
            self.store.store_partial_state_room(
                self.room_id, {"other.example.com"}, 0, "other.example.com"
            )
        )
        self.assertTrue(
            self.get_success(self.store.is_partial_state_room(self.room_id))
        )

    def test_batch_into_partial_state_room_gives_single_send_results(self) -> None:
        existing = self.helper.send_state(
            self.room_id, "m.room.topic", {"topic": "same"}, tok=self.admin_token
        )["event_id"]
        levels = self.power_levels()
        levels["events"]["org.example.admin_only"] = 100
        levels["users"][self.mod_id] = 50
        self.helper.send_state(
            self.room_id, "m.room.power_levels", levels, tok=self.admin_token
        )
        self.mark_partial_state()

        code, body = self.batch(
            [
                *state_items(3),
                {"event_type": "m.room.topic", "content": {"topic": "same"}},
            ]
        )
        self.assertEqual(code, 200, body)
        self.assertTrue(all(body[:3]), body)
        self.assertEqual(body[3], existing)
        for i in range(3):
            self.assertEqual(self.state("org.example.setting", f"key{i}"), {"value": i})

        code, body = self.batch(
            [
                {"event_type": "org.example.admin_only", "content": {}},
                {"event_type": "org.example.ok", "content": {"x": 1}},
            ],
            token=self.mod_token,
        )
        self.assertEqual(code, 200, body)
        self.assertIsNone(body[0])
        self.assertIsNotNone(body[1])

        code, body = self.batch(
            [{"event_type": "org.example.admin_only", "content": {}}],
            token=self.mod_token,
        )
        self.assertEqual(code, 403, body)


class ConcurrencyTestCase(BatchStateTestCase):
    def test_concurrent_batches_and_single_sends_lose_nothing(self) -> None:
        channels = []
        for n in range(3):
            body = json.dumps(state_items(10, f"org.example.batch{n}")).encode()
            channels.append(
                self.make_request(
                    "PUT",
                    f"{BATCH_PREFIX}/rooms/{quote(self.room_id)}/batch_state/c{n}",
                    body,
                    access_token=self.admin_token,
                    await_result=False,
                )
            )
            channels.append(
                self.make_request(
                    "PUT",
                    f"/_matrix/client/v3/rooms/{quote(self.room_id)}/state/"
                    f"org.example.single/{n}",
                    {"n": n},
                    access_token=self.admin_token,
                    await_result=False,
                )
            )
        for channel in channels:
            channel.await_result()
            self.assertEqual(channel.code, 200, channel.result)

        for n in range(3):
            self.assertEqual(self.state("org.example.single", str(n)), {"n": n})
            for i in range(10):
                self.assertEqual(
                    self.state(f"org.example.batch{n}", f"key{i}"), {"value": i}
                )

        # A valid DAG: every prev event is known, and one more send merges any
        # forks into a single forward extremity.
        rows = self.get_success(
            self.store.db_pool.simple_select_list(
                "event_edges", {"room_id": self.room_id}, ["prev_event_id"]
            )
        )
        known = set(
            self.get_success(
                self.store.have_seen_events(self.room_id, [prev for (prev,) in rows])
            )
        )
        self.assertEqual(known, {prev for (prev,) in rows})
        self.helper.send(self.room_id, "merge", tok=self.admin_token)
        extremities = self.get_success(
            self.store.get_latest_event_ids_in_room(self.room_id)
        )
        self.assertEqual(len(extremities), 1)

    def test_state_group_delta_chains_stay_bounded(self) -> None:
        state_store = self.hs.get_datastores().state
        for n in range(5):
            code, body = self.batch(state_items(50, f"org.example.round{n}"))
            self.assertEqual(code, 200, body)
            event_id = body[-1]
            groups = self.get_success(
                self.hs.get_storage_controllers().state.get_state_group_for_events(
                    [event_id]
                )
            )
            hops = self.get_success(
                state_store.db_pool.runInteraction(
                    "count_hops",
                    state_store._count_state_group_hops_txn,
                    groups[event_id],
                )
            )
            self.assertLess(hops, MAX_STATE_DELTA_HOPS)
        # The state is all there after the snapshots.
        for n in range(5):
            self.assertEqual(
                self.state(f"org.example.round{n}", "key49"), {"value": 49}
            )
