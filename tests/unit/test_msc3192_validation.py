"""Parsing a batch_state body into items: no homeserver needed."""

from typing import Any

from synapse.api.errors import Codes, SynapseError
from twisted.trial import unittest

from msc_extensions.msc3192.validation import check_json_values, parse_batch


class ParseBatchTestCase(unittest.TestCase):
    def assert_bad(self, body: Any, errcode: str, fragment: str) -> None:
        with self.assertRaises(SynapseError) as raised:
            parse_batch(body, 50)
        self.assertEqual(raised.exception.code, 400)
        self.assertEqual(raised.exception.errcode, errcode)
        self.assertIn(fragment, raised.exception.msg)

    def test_items_in_order_with_defaults(self) -> None:
        items = parse_batch(
            [
                {"event_type": "m.room.topic", "content": {"topic": "t"}},
                {"event_type": "a.b", "state_key": "k", "content": {}},
            ],
            50,
        )
        self.assertEqual([i.index for i in items], [0, 1])
        self.assertEqual(items[0].state_key, "")
        self.assertEqual(items[1].event_type, "a.b")
        self.assertEqual(items[1].state_key, "k")

    def test_max_events_from_config(self) -> None:
        body = [
            {"event_type": "a.b", "state_key": str(i), "content": {}} for i in range(3)
        ]
        self.assertEqual(len(parse_batch(body, 3)), 3)
        with self.assertRaises(SynapseError):
            parse_batch(body, 2)

    def test_same_key_under_different_types_is_fine(self) -> None:
        body = [
            {"event_type": "a.b", "state_key": "k", "content": {}},
            {"event_type": "a.c", "state_key": "k", "content": {}},
        ]
        self.assertEqual(len(parse_batch(body, 50)), 2)

    def test_duplicate_names_both_indexes(self) -> None:
        item = {"event_type": "a.b", "content": {}}
        self.assert_bad(
            [item, {**item, "state_key": ""}], Codes.INVALID_PARAM, "Item 1"
        )

    def test_overlong_type_and_state_key(self) -> None:
        self.assert_bad(
            [{"event_type": "x" * 256, "content": {}}], Codes.INVALID_PARAM, "255"
        )
        self.assert_bad(
            [{"event_type": "a", "state_key": "x" * 256, "content": {}}],
            Codes.INVALID_PARAM,
            "255",
        )

    def test_empty_event_type(self) -> None:
        self.assert_bad(
            [{"event_type": "", "content": {}}], Codes.INVALID_PARAM, "empty"
        )

    def test_unknown_membership(self) -> None:
        self.assert_bad(
            [
                {
                    "event_type": "m.room.member",
                    "state_key": "@a:b",
                    "content": {"membership": "maybe"},
                }
            ],
            Codes.INVALID_PARAM,
            "maybe",
        )

    def test_nul_in_type_or_state_key(self) -> None:
        self.assert_bad(
            [{"event_type": "a\x00", "content": {}}], Codes.INVALID_PARAM, "NUL"
        )
        self.assert_bad(
            [{"event_type": "a", "state_key": "\x00", "content": {}}],
            Codes.INVALID_PARAM,
            "state_key must not contain",
        )
        # In content it is stored as a JSON escape: fine.
        parse_batch([{"event_type": "a", "content": {"\x00": "\x00"}}], 50)


class JsonValuesTestCase(unittest.TestCase):
    def assert_bad_value(self, item: Any, errcode: str, message: str) -> None:
        with self.assertRaises(SynapseError) as raised:
            check_json_values("Item 3", item)
        self.assertEqual(
            (raised.exception.code, raised.exception.errcode), (400, errcode)
        )
        self.assertEqual(raised.exception.msg.split(" is not")[0], message)

    def test_names_where_a_bad_string_is(self) -> None:
        self.assert_bad_value(
            {"event_type": "a\ud800", "content": {}},
            Codes.BAD_JSON,
            "Item 3: event_type",
        )
        self.assert_bad_value(
            {"content": {"list": [0, {"k": ["\udfff"]}]}},
            Codes.BAD_JSON,
            "Item 3: content.list[1].k[0]",
        )

    def test_a_bad_key_is_escaped_in_the_message(self) -> None:
        with self.assertRaises(SynapseError) as raised:
            check_json_values("Item 0", {"content": {"\ud800": {"\udc00x": 1}}})
        message = raised.exception.msg
        self.assertIn("a key in content", message)
        # The message itself must be sendable as JSON in UTF-8.
        message.encode("utf-8")

    def test_names_where_a_non_finite_number_is(self) -> None:
        for number in (float("inf"), float("-inf"), float("nan")):
            self.assert_bad_value(
                {"content": {"n": [1, 2.5, number]}},
                Codes.NOT_JSON,
                "Item 3: content.n[2]",
            )

    def test_deep_nesting_costs_no_recursion(self) -> None:
        deep: Any = "\ud800"
        for _ in range(5000):
            deep = [deep]
        self.assert_bad_value(
            {"content": {"d": deep}}, Codes.BAD_JSON, "Item 3: content.d" + "[0]" * 5000
        )

    def test_good_values_pass(self) -> None:
        check_json_values(
            "Item 0",
            {"content": {"e": "\U0001f600", "n": [0, -0.0, 1.5e300, 10**40, True]}},
        )
