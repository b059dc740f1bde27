"""The one path from an exception to an item's result, and the answer to a batch:
no homeserver needed."""

from synapse.api.errors import AuthError, Codes, ShadowBanError, SynapseError
from twisted.internet import defer
from twisted.trial import unittest

from msc_extensions.msc3192.items import BatchItem, ItemResult
from msc_extensions.msc3192.outcomes import (
    INTERNAL_ERROR,
    attempt,
    result_for_exception,
)
from msc_extensions.msc3192.response import ERRORS_FIELD, response_for

ROOM = "!room:test"


def item(index: int) -> BatchItem:
    return BatchItem(index=index, event_type="a.b", state_key=str(index), content={})


class ItemResultTestCase(unittest.TestCase):
    def test_a_result_has_an_event_id_or_an_error(self) -> None:
        self.assertEqual(ItemResult.sent("$e").event_id, "$e")
        error = SynapseError(400, "no")
        self.assertIs(ItemResult.failed(error).error, error)
        with self.assertRaises(ValueError):
            ItemResult(event_id=None, error=None)
        with self.assertRaises(ValueError):
            ItemResult(event_id="$e", error=error)


class ResultForExceptionTestCase(unittest.TestCase):
    def test_a_matrix_error_is_the_item_s_error(self) -> None:
        error = AuthError(403, "not allowed")
        result = result_for_exception(error, ROOM, [item(0)])
        self.assertIs(result.error, error)

    def test_shadow_banned_items_get_a_fake_event_id(self) -> None:
        result = result_for_exception(ShadowBanError(), ROOM, [item(0)])
        self.assertIsNone(result.error)
        assert result.event_id is not None
        self.assertTrue(result.event_id.startswith("$"))

    def test_anything_else_is_a_logged_internal_error(self) -> None:
        with self.assertLogs("msc_extensions.msc3192.outcomes", "ERROR") as logs:
            result = result_for_exception(KeyError("oops"), ROOM, [item(3), item(4)])
        assert result.error is not None
        self.assertEqual(result.error.code, 500)
        self.assertEqual(result.error.errcode, Codes.UNKNOWN)
        self.assertEqual(result.error.msg, INTERNAL_ERROR)
        self.assertIn("3, 4", logs.output[0])
        self.assertIn("KeyError", logs.output[0])

    def test_attempt_gives_the_value_or_the_result_for_the_exception(self) -> None:
        async def value() -> str:
            return "done"

        async def fails() -> str:
            raise SynapseError(400, "bad", Codes.INVALID_PARAM)

        self.assertEqual(
            self.successResultOf(defer.ensureDeferred(attempt(ROOM, [], value()))),
            "done",
        )
        outcome = self.successResultOf(
            defer.ensureDeferred(attempt(ROOM, [item(0)], fails()))
        )
        assert isinstance(outcome, ItemResult) and outcome.error is not None
        self.assertEqual(outcome.error.errcode, Codes.INVALID_PARAM)


class ResponseTestCase(unittest.TestCase):
    def test_any_event_id_is_200_with_nulls_for_the_rest(self) -> None:
        results = [ItemResult.failed(AuthError(403, "no")), ItemResult.sent("$e")]
        self.assertEqual(response_for([item(0), item(1)], results), (200, [None, "$e"]))

    def test_only_forbidden_items_is_403_with_each_error(self) -> None:
        results = [
            ItemResult.failed(AuthError(403, "no power")),
            ItemResult.failed(SynapseError(403, "spam", Codes.BAD_STATE)),
        ]
        code, body = response_for([item(0), item(1)], results)
        self.assertEqual(code, 403)
        self.assertEqual(body["errcode"], Codes.FORBIDDEN)
        self.assertIn("item 0: no power; item 1: spam", body["error"])
        self.assertEqual(
            body[ERRORS_FIELD],
            [
                {"index": 0, "errcode": Codes.FORBIDDEN, "error": "no power"},
                {"index": 1, "errcode": Codes.BAD_STATE, "error": "spam"},
            ],
        )

    def test_other_failures_are_400_with_the_first_other_errcode(self) -> None:
        results = [
            ItemResult.failed(AuthError(403, "no power")),
            ItemResult.failed(SynapseError(400, "bad", Codes.BAD_JSON)),
            ItemResult.failed(SynapseError(500, "oops")),
        ]
        code, body = response_for([item(0), item(1), item(2)], results)
        self.assertEqual(code, 400)
        self.assertEqual(body["errcode"], Codes.BAD_JSON)
        self.assertEqual([e["index"] for e in body[ERRORS_FIELD]], [0, 1, 2])
