"""MSC3192 under hostile input: an item whose event would be over Synapse's size
limit fails alone, and strings or numbers JSON cannot carry are a 400 that names
the item, before anything is written."""

import json

from synapse.api.errors import Codes
from synapse.types import JsonDict

from msc_extensions.msc3192.response import ERRORS_FIELD
from tests.integration.test_msc3192_base import BatchStateTestCase

#: Under the module's 64 KiB content limit; the event built from it is over
#: Synapse's 65,536-byte limit on a whole event.
NEARLY_64K = 65_500


def item(key: str, content: JsonDict) -> JsonDict:
    return {"event_type": "org.example.size", "state_key": key, "content": content}


class OversizeItemTestCase(BatchStateTestCase):
    def state_group_count(self) -> int:
        rows = self.get_success(
            self.hs.get_datastores().state.db_pool.simple_select_list(
                "state_groups", {"room_id": self.room_id}, ["id"]
            )
        )
        return len(rows)

    def test_an_item_over_the_event_size_limit_is_null_and_the_rest_go_ahead(
        self,
    ) -> None:
        groups = self.state_group_count()
        big = item("big", {"pad": "x" * (NEARLY_64K - 10)})
        code, ids = self.batch([item("a", {"n": 1}), big, item("b", {"n": 2})])
        self.assertEqual(code, 200, ids)
        self.assertIsNotNone(ids[0])
        self.assertIsNone(ids[1])
        self.assertIsNotNone(ids[2])
        self.assertEqual(self.state("org.example.size", "b"), {"n": 2})
        self.assertIsNone(self.state("org.example.size", "big"))
        # One state group per event persisted, none for the item left out.
        self.assertEqual(self.state_group_count(), groups + 2)

    def test_a_lone_oversize_item_is_a_400_too_large_and_leaves_nothing(
        self,
    ) -> None:
        groups = self.state_group_count()
        count = self.event_count()
        code, body = self.batch([item("big", {"pad": "x" * (NEARLY_64K - 10)})])
        self.assertEqual(code, 400, body)
        self.assertEqual(body["errcode"], Codes.TOO_LARGE)
        self.assertEqual(body[ERRORS_FIELD][0]["errcode"], Codes.TOO_LARGE)
        self.assertEqual(self.event_count(), count)
        self.assertEqual(self.state_group_count(), groups)


class JsonValuesTestCase(BatchStateTestCase):
    def assert_refused(self, raw: bytes, errcode: str, fragment: str) -> None:
        count = self.event_count()
        code, body = self.batch(raw)
        self.assertEqual((code, body["errcode"]), (400, errcode), body)
        self.assertIn(fragment, body["error"])
        self.assertEqual(self.event_count(), count)

    def body(self, bad_item: str) -> bytes:
        good = json.dumps(item("fine", {"n": 1}))
        return f"[{good}, {bad_item}]".encode()

    def test_lone_surrogates_anywhere_are_400_bad_json_naming_the_item(self) -> None:
        cases = [
            r'{"event_type": "a\ud800", "content": {}}',
            r'{"event_type": "a.b", "state_key": "\udc00", "content": {}}',
            r'{"event_type": "a.b", "content": {"deep": [{"x": "\ud83d"}]}}',
            r'{"event_type": "a.b", "content": {"key\udfff": 1}}',
            r'{"event_type": "a.b", "\ud800": 1, "content": {}}',
        ]
        for case in cases:
            self.assert_refused(self.body(case), Codes.BAD_JSON, "Item 1")

    def test_paired_surrogate_escapes_are_fine(self) -> None:
        code, ids = self.batch(
            self.body(r'{"event_type": "a.b", "content": {"e": "\ud83d\ude00"}}')
        )
        self.assertEqual(code, 200, ids)
        self.assertEqual(self.state("a.b"), {"e": "\U0001f600"})

    def test_numbers_out_of_range_are_400_not_json_naming_the_item(self) -> None:
        for number in ("1e400", "-1e400", "1E999", "123456789e999"):
            case = f'{{"event_type": "a.b", "content": {{"n": [0, {number}]}}}}'
            self.assert_refused(self.body(case), Codes.NOT_JSON, "Item 1: content.n")

    def test_nan_and_infinity_are_400_not_json(self) -> None:
        for spelling in ("NaN", "Infinity", "-Infinity"):
            case = f'{{"event_type": "a.b", "content": {{"n": {spelling}}}}}'
            self.assert_refused(self.body(case), Codes.NOT_JSON, "")
