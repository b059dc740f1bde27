"""MSC3895 points 1-4: federation answers about a room that is partial-state here.

The requests are signed by ``other.example.com`` (the server we joined through,
which the join was sent to) or by ``third.example.com`` (which nothing was sent to).
"""

from typing import Any
from unittest.mock import patch

from prometheus_client import REGISTRY
from synapse.api.errors import SynapseError
from synapse.logging.context import make_deferred_yieldable
from twisted.internet.defer import Deferred

from msc_extensions.msc3895.config import Msc3895Config
from msc_extensions.partial_state.errcodes import STABLE_ERRCODE, UNSTABLE_ERRCODE
from msc_extensions.partial_state.service import PartialStateService
from tests.integration.test_msc3902_fixture import PartialStateTestCase

FED = "/_matrix/federation/v1"
THIRD = "third.example.com"


class _Msc3895Tests(PartialStateTestCase):
    errcode = UNSTABLE_ERRCODE

    def prepare(self, *args: object) -> None:
        super().prepare(*args)  # type: ignore[arg-type]
        self.join_partial()
        self.assertTrue(self.is_partial())

    def get_from(self, origin: str, path: str) -> tuple[int, object]:
        return self.signed_request_from(origin, "GET", path)

    def assert_partial_state_error(self, code: int, body: object) -> None:
        self.assertEqual(code, 403, body)
        assert isinstance(body, dict)
        self.assertEqual(body["errcode"], self.errcode)

    # Point 2: the code on Synapse's own answers.
    def test_synapse_own_state_ids_carries_the_configured_code(self) -> None:
        for path in (
            f"{FED}/state_ids/{self.room_id}?event_id={self.alice_join.event_id}",
            f"{FED}/state/{self.room_id}?event_id={self.alice_join.event_id}",
        ):
            code, body = self.get_from(self.OTHER_SERVER_NAME, path)
            self.assert_partial_state_error(code, body)

    def test_every_refusal_is_counted_by_servlet(self) -> None:
        def refusals() -> dict[str, float]:
            return {
                sample.labels["servlet"]: sample.value
                for metric in REGISTRY.collect()
                if metric.name == "synapse_msc_extensions_partial_state_refusals"
                for sample in metric.samples
                if sample.name.endswith("_total")
                and sample.labels["server_name"] == self.hs.hostname
            }

        before = refusals()
        event_id = self.alice_join.event_id
        # Refused: Synapse's own /state_ids (the module's servlet passes requests
        # with event_id through to it). Answered: /event of our own join.
        self.get_from(
            self.OTHER_SERVER_NAME,
            f"{FED}/state_ids/{self.room_id}?event_id={event_id}",
        )
        code, _ = self.get_from(self.OTHER_SERVER_NAME, f"{FED}/event/{event_id}")
        self.assertEqual(code, 200)
        after = refusals()
        self.assertEqual(
            {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k)},
            {"StateIdsServlet": 1},
        )

    # Point 3: the obligation to answer.
    def test_event_we_created_is_answered_to_a_server_it_was_sent_to(self) -> None:
        code, body = self.get_from(
            self.OTHER_SERVER_NAME, f"{FED}/event/{self.alice_join.event_id}"
        )
        self.assertEqual(code, 200, body)
        assert isinstance(body, dict)
        (pdu,) = body["pdus"]
        self.assertEqual(pdu["sender"], self.alice_id)
        self.assertEqual(pdu["type"], "m.room.member")

    def test_event_auth_we_created_is_answered_to_a_server_it_was_sent_to(
        self,
    ) -> None:
        code, body = self.get_from(
            self.OTHER_SERVER_NAME,
            f"{FED}/event_auth/{self.room_id}/{self.alice_join.event_id}",
        )
        self.assertEqual(code, 200, body)
        assert isinstance(body, dict)
        got = {e["type"] for e in body["auth_chain"]}
        self.assertEqual(
            got,
            {
                "m.room.create",
                "m.room.member",
                "m.room.power_levels",
                "m.room.join_rules",
            },
        )

    def test_a_server_the_event_was_not_sent_to_gets_the_code(self) -> None:
        for path in (
            f"{FED}/event/{self.alice_join.event_id}",
            f"{FED}/event_auth/{self.room_id}/{self.alice_join.event_id}",
        ):
            code, body = self.get_from(THIRD, path)
            self.assert_partial_state_error(code, body)

    def test_events_created_elsewhere_still_get_the_code(self) -> None:
        code, body = self.get_from(
            self.OTHER_SERVER_NAME, f"{FED}/event/{self.creator_join.event_id}"
        )
        self.assert_partial_state_error(code, body)

    def test_event_auth_in_the_wrong_room_is_404(self) -> None:
        code, body = self.get_from(
            self.OTHER_SERVER_NAME,
            f"{FED}/event_auth/!elsewhere:test/{self.alice_join.event_id}",
        )
        self.assertEqual(code, 404, body)

    def test_get_missing_events_keeps_answering(self) -> None:
        code, body = self.signed_request_from(
            self.OTHER_SERVER_NAME,
            "POST",
            f"{FED}/get_missing_events/{self.room_id}",
            {
                "earliest_events": [self.creator_join.event_id],
                "latest_events": [self.alice_join.event_id],
                "limit": 10,
            },
        )
        self.assertEqual(code, 200, body)

    # Point 4: hierarchy never hangs.
    def test_hierarchy_of_a_public_partial_state_room_answers(self) -> None:
        code, body = self.get_from(
            self.OTHER_SERVER_NAME, f"{FED}/hierarchy/{self.room_id}"
        )
        self.assertEqual(code, 200, body)
        assert isinstance(body, dict)
        self.assertEqual(body["room"]["room_id"], self.room_id)
        self.assertEqual(body["room"]["join_rule"], "public")

    # Point 1: the guard other features' endpoints use.
    def test_guard_refuses_while_partial_with_the_configured_code(self) -> None:
        config = Msc3895Config(
            errcode_choice="stable" if self.errcode == STABLE_ERRCODE else "unstable"
        )
        answers = PartialStateService(self.hs, errcode=config.errcode)
        failure = self.get_failure(
            answers.refuse_if_partial(self.room_id), SynapseError
        )
        self.assertEqual(failure.value.code, 403)
        self.assertEqual(failure.value.errcode, self.errcode)

        self.remote_up = True
        self.advance_ms(2 * 60_000)
        self.assertFalse(self.is_partial())
        self.get_success(answers.refuse_if_partial(self.room_id))
        # With full state Synapse answers again.
        code, body = self.get_from(
            self.OTHER_SERVER_NAME,
            f"{FED}/state_ids/{self.room_id}?event_id={self.alice_join.event_id}",
        )
        self.assertEqual(code, 200, body)


class UnstableErrcodeTestCase(_Msc3895Tests):
    module_settings = {"msc3902": {"resync_interval": "1m"}}


class StableErrcodeTestCase(_Msc3895Tests):
    module_settings = {
        "msc3895": {"errcode": "stable"},
        "msc3902": {"resync_interval": "1m"},
    }
    errcode = STABLE_ERRCODE


del _Msc3895Tests


class InviteOnlyHierarchyTestCase(PartialStateTestCase):
    """A private room: no member of the asking server is known here."""

    join_rule = "invite"

    def hierarchy_from(self, origin: str) -> tuple[int, Any]:
        return self.signed_request_from(
            origin, "GET", f"{FED}/hierarchy/{self.room_id}"
        )

    def test_an_unprovable_answer_is_the_code_not_unknown_room(self) -> None:
        self.join_partial()
        self.assertTrue(self.is_partial())
        code, body = self.hierarchy_from(THIRD)
        self.assertEqual(code, 403, body)
        self.assertEqual(body["errcode"], UNSTABLE_ERRCODE)

    def test_a_server_with_a_known_member_gets_the_summary(self) -> None:
        self.join_partial()
        code, body = self.hierarchy_from(self.OTHER_SERVER_NAME)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["room"]["join_rule"], "invite")

    def test_never_hangs_even_if_synapse_answer_stalls(self) -> None:
        self.join_partial()
        handler = self.hs.get_room_summary_handler()

        async def stall(*args: object) -> None:
            await make_deferred_yieldable(Deferred())

        with patch.object(handler, "get_federation_hierarchy", side_effect=stall):
            self.trust_server(self.OTHER_SERVER_NAME)
            channel = self.make_signed_federation_request(
                "GET", f"{FED}/hierarchy/{self.room_id}", await_result=False
            )
            self.advance_ms(6_000)
            self.assertTrue(channel.is_finished())
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(channel.json_body["errcode"], UNSTABLE_ERRCODE)


class StockHierarchyTestCase(PartialStateTestCase):
    """Stock Synapse, without the module: what the MSC3895 feature changes."""

    join_rule = "invite"
    module_settings = {"msc3895": {"enabled": False}, "msc3902": {"enabled": False}}

    def test_stock_answer_is_unknown_room(self) -> None:
        self.join_partial()
        code, body = self.signed_request_from(
            THIRD, "GET", f"{FED}/hierarchy/{self.room_id}"
        )
        self.assertEqual(code, 404, body)
        self.assertEqual(body["errcode"], "M_UNKNOWN")

    def test_stock_refuses_our_own_event_to_a_server_it_was_sent_to(self) -> None:
        self.join_partial()
        for path in (
            f"{FED}/event/{self.alice_join.event_id}",
            f"{FED}/event_auth/{self.room_id}/{self.alice_join.event_id}",
        ):
            code, body = self.signed_request_from(self.OTHER_SERVER_NAME, "GET", path)
            self.assertEqual(code, 403, body)
            self.assertEqual(body["errcode"], UNSTABLE_ERRCODE)
