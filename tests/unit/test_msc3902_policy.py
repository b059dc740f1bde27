"""MSC3902's pure decisions: what a failed resync says, and whose power an abort
would lose. No homeserver needed."""

from synapse.api.errors import FederationError, HttpResponseException, RequestSendFailed
from twisted.trial import unittest

from msc_extensions._synapse_private.destinations import NotRetryingDestination
from msc_extensions.msc3902.abort import users_with_power
from msc_extensions.msc3902.failures import describe, unreachable


def caused_by(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


class FailuresTestCase(unittest.TestCase):
    def test_no_answer_at_all_is_unreachable(self) -> None:
        refused = RequestSendFailed(ConnectionRefusedError(), can_retry=True)
        backed_off = NotRetryingDestination(1, 600_000, "remote.example")
        for cause in (refused, backed_off):
            error = caused_by(FederationError("ERROR", 403, "no state", ""), cause)
            self.assertTrue(unreachable(error), cause)

    def test_an_http_answer_is_not_unreachable(self) -> None:
        answered = caused_by(
            RequestSendFailed(ConnectionRefusedError(), can_retry=True),
            HttpResponseException(502, "Bad Gateway", b""),
        )
        self.assertFalse(unreachable(answered))
        self.assertFalse(unreachable(ValueError("no cause")))

    def test_describe_names_the_causes(self) -> None:
        error = caused_by(
            FederationError("ERROR", 403, "no state", ""),
            HttpResponseException(502, "Bad Gateway", b""),
        )
        text = describe(error)
        self.assertTrue(text.startswith("FederationError: "), text)
        self.assertIn("(caused by HttpResponseException: 502: Bad Gateway)", text)


class UsersWithPowerTestCase(unittest.TestCase):
    def is_mine(self, user_id: str) -> bool:
        return user_id.endswith(":here")

    def test_local_users_above_the_default(self) -> None:
        content = {
            "users": {"@a:here": 100, "@b:here": 0, "@c:there": 100, "@d:here": 50},
            "users_default": 0,
        }
        self.assertEqual(
            users_with_power(content, self.is_mine), ["@a:here", "@d:here"]
        )

    def test_no_or_malformed_power_levels_lose_nothing(self) -> None:
        self.assertEqual(users_with_power(None, self.is_mine), [])
        self.assertEqual(users_with_power({"users": []}, self.is_mine), [])
        self.assertEqual(
            users_with_power(
                {"users": {"@a:here": 100}, "users_default": "0"}, self.is_mine
            ),
            [],
        )
