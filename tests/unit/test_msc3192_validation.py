"""Parsing a batch_state body into items: no homeserver needed."""

from typing import Any

from synapse.api.errors import Codes, SynapseError
from twisted.trial import unittest

from msc_extensions.msc3192.validation import parse_batch


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
