"""MSC3192 semantics 2, 4 and 5: bad input is a 400 naming the index and writes
nothing; status codes 200, 403, 400 and 404."""

import json
from typing import Any

from synapse.api.errors import Codes

from tests.integration.test_msc3192_base import BatchStateTestCase, state_items

TOPIC = {"event_type": "m.room.topic", "content": {"topic": "x"}}


class BadInputTestCase(BatchStateTestCase):
    def assert_rejected(
        self, body: Any, errcode: str, *fragments: str, token: str | None = None
    ) -> None:
        before = self.event_count()
        code, answer = self.batch(body, token=token)
        self.assertEqual(code, 400, answer)
        self.assertEqual(answer["errcode"], errcode, answer)
        for fragment in fragments:
            self.assertIn(fragment, answer["error"])
        self.assertEqual(self.event_count(), before, "a rejected body wrote events")

    def test_not_an_array(self) -> None:
        self.assert_rejected({"event_type": "m.room.topic"}, Codes.BAD_JSON, "array")

    def test_empty_array(self) -> None:
        self.assert_rejected([], Codes.INVALID_PARAM, "at least one")

    def test_more_than_max_events(self) -> None:
        self.assert_rejected(state_items(51), Codes.INVALID_PARAM, "51", "at most 50")

    def test_item_not_an_object(self) -> None:
        self.assert_rejected([TOPIC, "m.room.name"], Codes.BAD_JSON, "Item 1")

    def test_missing_event_type(self) -> None:
        self.assert_rejected(
            [TOPIC, {"content": {}}], Codes.MISSING_PARAM, "Item 1", "event_type"
        )

    def test_missing_content(self) -> None:
        self.assert_rejected(
            [{"event_type": "m.room.name"}], Codes.MISSING_PARAM, "Item 0", "content"
        )

    def test_wrong_typed_fields(self) -> None:
        for item, field in [
            ({"event_type": 5, "content": {}}, "event_type"),
            ({"event_type": "a.b", "state_key": None, "content": {}}, "state_key"),
            ({"event_type": "a.b", "state_key": 3, "content": {}}, "state_key"),
            ({"event_type": "a.b", "content": []}, "content"),
            ({"event_type": "a.b", "content": "text"}, "content"),
        ]:
            with self.subTest(item=item):
                self.assert_rejected(
                    [TOPIC, item], Codes.INVALID_PARAM, "Item 1", field
                )

    def test_unknown_field(self) -> None:
        self.assert_rejected(
            [{**TOPIC, "type": "m.room.topic"}], Codes.INVALID_PARAM, "Item 0", "type"
        )

    def test_repeated_type_and_state_key(self) -> None:
        self.assert_rejected(
            [TOPIC, {"event_type": "m.room.name", "content": {}}, TOPIC],
            Codes.INVALID_PARAM,
            "Item 2",
            "item 0",
        )

    def test_membership_without_user_id_or_membership(self) -> None:
        self.assert_rejected(
            [{"event_type": "m.room.member", "state_key": "bob", "content": {}}],
            Codes.INVALID_PARAM,
            "Item 0",
            "user ID",
        )
        self.assert_rejected(
            [
                TOPIC,
                {
                    "event_type": "m.room.member",
                    "state_key": "@bob:test",
                    "content": {},
                },
            ],
            Codes.BAD_JSON,
            "Item 1",
            "membership",
        )

    def test_content_too_large(self) -> None:
        big = {"event_type": "a.b", "content": {"x": "y" * 70000}}
        self.assert_rejected([TOPIC, big], Codes.TOO_LARGE, "Item 1")

    def test_body_over_size_limit(self) -> None:
        items = [
            {"event_type": "a.b", "state_key": str(i), "content": {"x": "y" * 65000}}
            for i in range(50)
        ]
        self.assert_rejected(
            json.dumps(items).encode() + b" " * 200000, Codes.TOO_LARGE, "limit"
        )

    def test_invalid_json(self) -> None:
        self.assert_rejected(b'[{"event_type": ', Codes.NOT_JSON, "JSON")
        self.assert_rejected(b"[NaN]", Codes.NOT_JSON, "JSON")

    def test_too_deeply_nested_json_is_400(self) -> None:
        self.assert_rejected(b"[" * 100000 + b"]" * 100000, Codes.NOT_JSON, "JSON")

    def test_one_bad_item_writes_none_of_the_good_ones(self) -> None:
        body = [*state_items(3), {"event_type": "a.b", "content": None}]
        self.assert_rejected(body, Codes.INVALID_PARAM, "Item 3")
        self.assertIsNone(self.state("org.example.setting", "key0"))

    def test_needs_an_access_token(self) -> None:
        code, body = self.request_json(
            "PUT",
            f"/_matrix/client/unstable/org.matrix.msc3192/rooms/{self.room_id}"
            "/batch_state/t1",
            json.dumps([TOPIC]).encode(),
        )
        self.assertEqual(code, 401, body)
        self.assertEqual(body["errcode"], Codes.MISSING_TOKEN)


class StatusTestCase(BatchStateTestCase):
    def test_unknown_room_is_404(self) -> None:
        code, body = self.batch([TOPIC], room_id="!nowhere:test")
        self.assertEqual(code, 404, body)
        self.assertEqual(body["errcode"], Codes.NOT_FOUND)

    def test_sender_not_in_room_is_403(self) -> None:
        _, outsider_token = self.register_member("outsider")
        code, body = self.batch([TOPIC], token=outsider_token)
        self.assertEqual(code, 403, body)
        self.assertEqual(body["errcode"], Codes.FORBIDDEN)

    def test_not_enough_power_for_any_item_is_403(self) -> None:
        before = self.event_count()
        code, body = self.batch(state_items(3), token=self.mod_token)
        self.assertEqual(code, 403, body)
        self.assertEqual(body["errcode"], Codes.FORBIDDEN)
        self.assertIn("item 2", body["error"])
        self.assertEqual(self.event_count(), before)

    def test_no_event_for_another_reason_is_400(self) -> None:
        # m.room.create cannot be sent again; that is not a permission problem.
        code, body = self.batch(
            [{"event_type": "m.room.create", "content": {"creator": self.admin_id}}]
        )
        self.assertEqual(code, 400, body)
        self.assertIn("errcode", body)
        self.assertIn("item 0", body["error"])

    def test_forbidden_and_other_failures_without_any_event_is_400(self) -> None:
        code, body = self.batch(
            [
                {"event_type": "m.room.create", "content": {}},
                {
                    "event_type": "m.room.member",
                    "state_key": self.admin_id,
                    "content": {"membership": "ban"},
                },
            ],
            token=self.mod_token,
        )
        self.assertEqual(code, 400, body)
        self.assertEqual(
            [e["index"] for e in body["org.matrix.msc3192.errors"]], [0, 1]
        )

    def test_partial_success_is_200_with_nulls(self) -> None:
        code, body = self.batch(
            [
                {"event_type": "m.room.create", "content": {}},
                TOPIC,
            ]
        )
        self.assertEqual(code, 200, body)
        self.assertIsNone(body[0])
        self.assertIsNotNone(body[1])
