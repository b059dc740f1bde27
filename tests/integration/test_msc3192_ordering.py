"""MSC3192 semantics 1 and 3: ordered items, each authorised against the state
that includes the earlier ones; failures give null; repeats of current state."""

import json

from tests.integration.test_msc3192_base import BatchStateTestCase, state_items


class OrderingTestCase(BatchStateTestCase):
    def test_all_items_become_current_state_in_order(self) -> None:
        code, body = self.batch(state_items(5))
        self.assertEqual(code, 200, body)
        self.assertEqual(len(body), 5)
        for i, event_id in enumerate(body):
            self.assertTrue(event_id.startswith("$"), body)
            self.assertEqual(self.state("org.example.setting", f"key{i}"), {"value": i})
            self.assertEqual(
                self.state_event_id("org.example.setting", f"key{i}"), event_id
            )

    def test_state_key_defaults_to_empty(self) -> None:
        code, body = self.batch(
            [{"event_type": "m.room.topic", "content": {"topic": "t"}}]
        )
        self.assertEqual(code, 200, body)
        self.assertEqual(self.state("m.room.topic"), {"topic": "t"})

    def test_raised_power_authorises_and_lowered_power_stops_later_items(
        self,
    ) -> None:
        # mod starts at power 0, below state_default 50: its batch fails. The
        # admin's batch raises mod, after which mod's sends work.
        code, body = self.batch(
            [{"event_type": "org.example.special", "content": {"early": True}}],
            token=self.mod_token,
        )
        self.assertEqual(code, 403, body)
        levels = self.power_levels()
        levels["events"]["org.example.special"] = 100
        levels["users"][self.mod_id] = 100
        code, body = self.batch(
            [
                {"event_type": "m.room.power_levels", "content": levels},
            ]
        )
        self.assertEqual(code, 200, body)
        # Now mod (power 100) lowers itself to 0 then tries to send: from the
        # lowering on, everything fails; earlier items succeed.
        lowered = dict(levels)
        lowered["users"] = dict(levels["users"])
        lowered["users"][self.mod_id] = 0
        code, body = self.batch(
            [
                {"event_type": "org.example.special", "content": {"before": True}},
                {"event_type": "m.room.power_levels", "content": lowered},
                {"event_type": "org.example.special", "state_key": "x", "content": {}},
                {"event_type": "m.room.topic", "content": {"topic": "nope"}},
            ],
            token=self.mod_token,
        )
        self.assertEqual(code, 200, body)
        self.assertIsNotNone(body[0])
        self.assertIsNotNone(body[1])
        self.assertEqual(body[2:], [None, None])
        self.assertEqual(self.state("org.example.special"), {"before": True})
        self.assertIsNone(self.state("org.example.special", "x"))
        self.assertEqual(self.power_levels()["users"][self.mod_id], 0)

    def test_unauthorised_item_is_null_and_later_items_go_ahead(self) -> None:
        levels = self.power_levels()
        levels["events"]["org.example.admin_only"] = 100
        self.helper.send_state(
            self.room_id, "m.room.power_levels", levels, tok=self.admin_token
        )
        levels["users"][self.mod_id] = 50
        self.helper.send_state(
            self.room_id, "m.room.power_levels", levels, tok=self.admin_token
        )
        code, body = self.batch(
            [
                {"event_type": "org.example.a", "content": {"n": 1}},
                {"event_type": "org.example.admin_only", "content": {"n": 2}},
                {"event_type": "org.example.b", "content": {"n": 3}},
            ],
            token=self.mod_token,
        )
        self.assertEqual(code, 200, body)
        self.assertIsNotNone(body[0])
        self.assertIsNone(body[1])
        self.assertIsNotNone(body[2])
        self.assertIsNone(self.state("org.example.admin_only"))
        self.assertEqual(self.state("org.example.b"), {"n": 3})

    def test_item_equal_to_current_state_returns_existing_event_id(self) -> None:
        first = self.helper.send_state(
            self.room_id, "m.room.topic", {"topic": "same"}, tok=self.admin_token
        )["event_id"]
        before = self.event_count()
        code, body = self.batch(
            [
                {"event_type": "org.example.new", "content": {"n": 1}},
                {"event_type": "m.room.topic", "content": {"topic": "same"}},
                {"event_type": "org.example.new", "state_key": "2", "content": {}},
            ]
        )
        self.assertEqual(code, 200, body)
        self.assertEqual(body[1], first)
        # The batch was not dropped: both new items are there, and only they.
        self.assertEqual(self.state("org.example.new"), {"n": 1})
        self.assertEqual(self.state("org.example.new", "2"), {})
        self.assertEqual(self.event_count(), before + 2)

    def test_equal_content_from_another_sender_is_a_new_event(self) -> None:
        self.set_user_power(self.mod_id, 50)
        first = self.helper.send_state(
            self.room_id, "m.room.topic", {"topic": "same"}, tok=self.admin_token
        )["event_id"]
        code, body = self.batch(
            [{"event_type": "m.room.topic", "content": {"topic": "same"}}],
            token=self.mod_token,
        )
        self.assertEqual(code, 200, body)
        self.assertNotEqual(body[0], first)

    def test_batch_of_only_repeats_answers_200_and_writes_nothing(self) -> None:
        first = self.helper.send_state(
            self.room_id, "m.room.topic", {"topic": "same"}, tok=self.admin_token
        )["event_id"]
        before = self.event_count()
        code, body = self.batch(
            [{"event_type": "m.room.topic", "content": {"topic": "same"}}]
        )
        self.assertEqual((code, body), (200, [first]))
        self.assertEqual(self.event_count(), before)

    def test_events_form_a_chain_with_one_forward_extremity(self) -> None:
        code, body = self.batch(state_items(10))
        self.assertEqual(code, 200, body)
        extremities = self.get_success(
            self.store.get_latest_event_ids_in_room(self.room_id)
        )
        self.assertEqual(set(extremities), {body[-1]})
        for earlier, later in zip(body, body[1:], strict=False):
            event = self.get_success(self.store.get_event(later))
            self.assertEqual(event.prev_event_ids(), [earlier])

    def test_later_sends_see_the_batch_state(self) -> None:
        code, body = self.batch(state_items(5))
        self.assertEqual(code, 200, body)
        # A single send repeating a batch item is deduplicated against it...
        repeat = self.helper.send_state(
            self.room_id,
            "org.example.setting",
            {"value": 4},
            state_key="key4",
            tok=self.admin_token,
        )["event_id"]
        self.assertEqual(repeat, body[4])
        # ...and the next batch builds on it.
        code, again = self.batch(
            [
                {
                    "event_type": "org.example.setting",
                    "state_key": "key3",
                    "content": {"value": 3},
                },
                {
                    "event_type": "org.example.setting",
                    "state_key": "key9",
                    "content": {"value": 9},
                },
            ]
        )
        self.assertEqual(code, 200, again)
        self.assertEqual(again[0], body[3])
        self.assertNotIn(again[1], body)
        channel = self.make_request(
            "GET",
            f"/_matrix/client/v3/rooms/{self.room_id}/state",
            access_token=self.admin_token,
        )
        self.assertEqual(channel.code, 200)
        full = json.loads(channel.result["body"])
        settings = {
            e["state_key"]: e["content"]["value"]
            for e in full
            if e["type"] == "org.example.setting"
        }
        self.assertEqual(settings, {f"key{i}": i for i in (0, 1, 2, 3, 4, 9)})
