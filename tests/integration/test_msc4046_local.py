"""MSC4046 client endpoints in a room this server is in: templates, sending, and
every forged-PDU case."""

from typing import Any
from unittest.mock import patch

from synapse.events import EventBase
from synapse.module_api import NOT_SPAM
from synapse.types import JsonDict

from msc_extensions.partial_state.errcodes import UNSTABLE_ERRCODE
from msc_extensions.partial_state.service import PartialStateService
from tests.integration.harness import forget_in_memory_transactions
from tests.integration.test_msc4046_base import (
    Msc4046TestCase,
    event_id_of,
    with_hashes,
)

TEMPLATE_FIELDS = {
    "type",
    "room_id",
    "sender",
    "prev_events",
    "auth_events",
    "depth",
    "origin_server_ts",
}


class TemplateTests(Msc4046TestCase):
    def test_message_template_has_every_field_but_content_hashes_signatures(
        self,
    ) -> None:
        code, body = self.make_pdu("m.room.message")
        self.assertEqual(code, 200, body)
        self.assertEqual(
            body["room_version"], self.hs.config.server.default_room_version.identifier
        )
        pdu = body["pdu"]
        self.assertLessEqual(TEMPLATE_FIELDS, set(pdu))
        for absent in ("content", "hashes", "signatures", "unsigned", "state_key"):
            self.assertNotIn(absent, pdu)
        self.assertEqual(pdu["sender"], self.owner_id)
        self.assertEqual(pdu["room_id"], self.room_id)
        self.assertEqual(pdu["type"], "m.room.message")

    def test_state_keys(self) -> None:
        self.assertEqual(self.template("m.room.topic")["state_key"], "")
        self.assertNotIn("state_key", self.template("org.example.custom"))
        self.assertEqual(
            self.template("org.example.custom", state_key="k")["state_key"], "k"
        )
        self.assertNotIn(
            "state_key", self.template("m.room.topic", no_state_key="true")
        )
        member = self.template("m.room.member", membership="leave")
        self.assertEqual(member["state_key"], self.owner_id)

    def test_membership_changes_auth_events(self) -> None:
        leave = self.template("m.room.member", membership="leave")
        invite = self.template(
            "m.room.member", membership="invite", state_key=self.outsider_id
        )
        self.assertEqual(invite["state_key"], self.outsider_id)
        self.assertNotEqual(sorted(leave["auth_events"]), sorted(invite["auth_events"]))

    def test_user_who_cannot_send_gets_403(self) -> None:
        self.assert_error(
            self.make_pdu("m.room.name", self.member_token), 403, "M_FORBIDDEN"
        )
        self.assert_error(
            self.make_pdu("m.room.message", self.outsider_token), 403, "M_FORBIDDEN"
        )

    def test_join_and_knock_templates_name_their_own_api(self) -> None:
        for membership, api in (("join", "make_join"), ("knock", "make_knock")):
            body = self.assert_error(
                self.make_pdu("m.room.member", membership=membership),
                400,
                "M_INVALID_PARAM",
            )
            self.assertIn(api, body["error"])

    def test_bad_parameters(self) -> None:
        for params in (
            {"membership": "leave"},
            {"state_key": "x", "no_state_key": "true"},
            {"no_state_key": "maybe"},
        ):
            code, body = self.make_pdu("m.room.topic", **params)
            self.assertEqual(code, 400, (params, body))
        code, body = self.make_pdu("m.room.member", membership="dance")
        self.assertEqual(code, 400, body)

    def test_unknown_room_without_server_name_is_404(self) -> None:
        self.assert_error(
            self.make_pdu("m.room.message", room_id="!nowhere:test"), 404, "M_NOT_FOUND"
        )

    def test_versions_advertises_the_feature(self) -> None:
        code, body = self.request_json("GET", "/_matrix/client/versions")
        self.assertEqual(code, 200)
        self.assertIs(body["unstable_features"].get("org.matrix.msc4046"), True)


class SendTests(Msc4046TestCase):
    def test_make_fill_send(self) -> None:
        pdu = self.filled("m.room.message", {"msgtype": "m.text", "body": "hi"})
        code, body = self.send_pdu(pdu)
        self.assertEqual((code, body), (200, {}))
        event_id = event_id_of(pdu, self.room_version)
        event = self.get_success(self.store.get_event(event_id))
        self.assertEqual(event.content["body"], "hi")
        self.assertEqual(event.sender, self.owner_id)
        self.assertIn(self.hs.hostname, event.signatures)
        # It is the room's latest event, as /messages shows it.
        code, messages = self.request_json(
            "GET",
            f"/_matrix/client/v3/rooms/{self.room_id}/messages?dir=b&limit=1",
            access_token=self.member_token,
        )
        self.assertEqual(messages["chunk"][0]["event_id"], event_id)

    def test_state_event_with_client_hashes(self) -> None:
        pdu = with_hashes(self.filled("m.room.topic", {"topic": "made by hand"}))
        self.assertEqual(self.send_pdu(pdu), (200, {}))
        code, body = self.request_json(
            "GET",
            f"/_matrix/client/v3/rooms/{self.room_id}/state/m.room.topic",
            access_token=self.owner_token,
        )
        self.assertEqual(body, {"topic": "made by hand"})

    def test_invite_rejection_by_a_local_user(self) -> None:
        self.helper.invite(
            self.room_id, self.owner_id, self.outsider_id, tok=self.owner_token
        )
        pdu = self.filled(
            "m.room.member",
            {"membership": "leave"},
            self.outsider_token,
            membership="leave",
        )
        self.assertEqual(self.send_pdu(pdu, self.outsider_token), (200, {}))
        membership = self.get_success(
            self.store.get_local_current_membership_for_user_in_room(
                self.outsider_id, self.room_id
            )
        )
        self.assertEqual(membership[0], "leave")

    def test_replay_returns_the_first_answer_and_stores_nothing(self) -> None:
        pdu = self.filled("m.room.message", {"msgtype": "m.text", "body": "once"})
        before = self.event_ids_in_room()
        self.assertEqual(self.send_pdu(pdu, txn_id="same"), (200, {}))
        self.assertEqual(self.send_pdu(pdu, txn_id="same"), (200, {}))
        self.assertEqual(len(self.event_ids_in_room() - before), 1)

    def test_replay_after_a_restart_returns_the_first_answer(self) -> None:
        # Without the kept transaction the same PDU again would be an event ID
        # already in the room: 400 M_BAD_STATE.
        pdu = self.filled("m.room.message", {"msgtype": "m.text", "body": "kept"})
        before = self.event_ids_in_room()
        self.assertEqual(self.send_pdu(pdu, txn_id="kept"), (200, {}))
        forget_in_memory_transactions(self.hs)
        self.assertEqual(self.send_pdu(pdu, txn_id="kept"), (200, {}))
        self.assertEqual(len(self.event_ids_in_room() - before), 1)
        # A new transaction with the same PDU is a new request.
        self.assert_error(self.send_pdu(pdu, txn_id="new"), 400, "M_BAD_STATE")

    def test_event_id_reuse_is_bad_state(self) -> None:
        pdu = self.filled("m.room.message", {"msgtype": "m.text", "body": "one"})
        self.assertEqual(self.send_pdu(pdu), (200, {}))
        self.assert_error(self.send_pdu(pdu), 400, "M_BAD_STATE")

    def test_join_through_send_pdu_names_make_join(self) -> None:
        pdu = self.filled("m.room.member", {"membership": "leave"}, membership="leave")
        pdu["content"] = {"membership": "join"}
        body = self.assert_error(self.send_pdu(pdu), 400, "M_INVALID_PARAM")
        self.assertIn("make_join", body["error"])

    def test_repeat_of_current_state_is_bad_state_and_nothing_is_stored(self) -> None:
        first = self.filled("m.room.topic", {"topic": "same"})
        self.assertEqual(self.send_pdu(first), (200, {}))
        before = self.event_ids_in_room()
        again = self.filled("m.room.topic", {"topic": "same"})
        self.assert_error(self.send_pdu(again), 400, "M_BAD_STATE")
        self.assertEqual(self.event_ids_in_room(), before)


class ForgedPduTests(Msc4046TestCase):
    """Each forged PDU is refused, and nothing is stored."""

    def assert_refused(
        self, pdu: Any, status: int, errcode: str, token: str | None = None
    ) -> JsonDict:
        before = self.event_ids_in_room()
        body = self.assert_error(self.send_pdu(pdu, token), status, errcode)
        self.assertEqual(self.event_ids_in_room(), before)
        return body

    def message(self, token: str | None = None) -> JsonDict:
        return self.filled("m.room.message", {"msgtype": "m.text", "body": "x"}, token)

    def test_wrong_sender(self) -> None:
        pdu = self.message(self.member_token)
        self.assert_refused(pdu, 403, "M_FORBIDDEN", self.owner_token)

    def test_wrong_room(self) -> None:
        other_room = self.helper.create_room_as(self.owner_id, tok=self.owner_token)
        pdu = self.message()
        code, body = self.send_pdu(pdu, room_id=other_room)
        self.assertEqual(code, 400, body)

    def test_wrong_hashes(self) -> None:
        pdu = with_hashes(self.message())
        pdu["content"] = {"msgtype": "m.text", "body": "changed after hashing"}
        self.assert_refused(pdu, 400, "M_BAD_JSON")

    def test_bad_signature(self) -> None:
        pdu = self.message()
        key = self.hs.signing_key
        for key_id in (f"{key.alg}:{key.version}", "ed25519:unknown"):
            pdu["signatures"] = {self.hs.hostname: {key_id: "AAAA"}}
            self.assert_refused(pdu, 400, "M_BAD_JSON")

    def test_missing_auth_event(self) -> None:
        pdu = self.message()
        pdu["auth_events"] = pdu["auth_events"][:-1]
        self.assert_refused(pdu, 400, "M_BAD_STATE")

    def test_old_template_after_demotion_is_soft_failed(self) -> None:
        self.set_member_level(50)
        pdu = self.filled("m.room.name", {"name": "old rights"}, self.member_token)
        self.set_member_level(0)
        self.assert_refused(pdu, 400, "M_BAD_STATE", self.member_token)

    def test_auth_events_pinning_old_power_levels(self) -> None:
        # Stock Synapse accepts this: the old power levels let member name the room.
        old_levels = self.set_member_level(50)
        new_levels = self.set_member_level(0)
        pdu = self.message(self.member_token)
        pdu.update(type="m.room.name", state_key="", content={"name": "forged"})
        pdu["auth_events"] = [
            old_levels if e == new_levels else e for e in pdu["auth_events"]
        ]
        self.assertIn(old_levels, pdu["auth_events"])
        self.assert_refused(pdu, 400, "M_BAD_STATE", self.member_token)

    def test_extra_auth_event(self) -> None:
        pdu = self.message()
        pdu["auth_events"] = [*pdu["auth_events"], pdu["prev_events"][0]]
        self.assert_refused(pdu, 400, "M_BAD_STATE")

    def test_unknown_prev_events(self) -> None:
        pdu = self.message()
        pdu["prev_events"] = ["$unknown"]
        self.assert_refused(pdu, 400, "M_BAD_STATE")

    def test_inconsistent_depth(self) -> None:
        pdu = self.message()
        pdu["depth"] += 5
        self.assert_refused(pdu, 400, "M_BAD_STATE")

    def set_member_level(self, level: int) -> str:
        levels = self.helper.get_state(
            self.room_id, "m.room.power_levels", tok=self.owner_token
        )
        levels["users"][self.member_id] = level
        return str(
            self.helper.send_state(
                self.room_id, "m.room.power_levels", levels, tok=self.owner_token
            )["event_id"]
        )


class CallbackTests(Msc4046TestCase):
    def test_spam_checker_refusal(self) -> None:
        async def refuse(event: EventBase) -> Any:
            return (
                ("M_FORBIDDEN", {}) if event.content.get("body") == "spam" else NOT_SPAM
            )

        self.hs.get_module_api().register_spam_checker_callbacks(
            check_event_for_spam=refuse
        )
        pdu = self.filled("m.room.message", {"msgtype": "m.text", "body": "spam"})
        self.assert_error(self.send_pdu(pdu), 403, "M_FORBIDDEN")

    def test_third_party_rules_refusal(self) -> None:
        async def refuse(event: EventBase, state: Any) -> tuple[bool, None]:
            return event.content.get("body") != "nope", None

        self.hs.get_module_api().register_third_party_rules_callbacks(
            check_event_allowed=refuse
        )
        pdu = self.filled("m.room.message", {"msgtype": "m.text", "body": "nope"})
        self.assert_error(self.send_pdu(pdu), 403, "M_FORBIDDEN")

    def test_partial_state_room_gets_the_msc3895_code(self) -> None:
        with patch.object(PartialStateService, "is_partial", side_effect=_true):
            self.assert_error(self.make_pdu("m.room.message"), 403, UNSTABLE_ERRCODE)
            pdu: JsonDict = {"sender": self.owner_id, "room_id": self.room_id}
            self.assert_error(self.send_pdu(pdu), 403, UNSTABLE_ERRCODE)


async def _true(*args: object) -> bool:
    return True
