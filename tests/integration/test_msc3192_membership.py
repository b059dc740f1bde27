"""MSC3192 semantics 6: m.room.member items run every check the single-event
membership APIs run, and give the same results."""

from typing import Any

from synapse.api.errors import Codes
from synapse.events import EventBase
from synapse.module_api import NOT_SPAM
from synapse.types import JsonDict

from tests.integration.test_msc3192_base import BatchStateTestCase


def member(user_id: str, membership: str, **extra: Any) -> JsonDict:
    return {
        "event_type": "m.room.member",
        "state_key": user_id,
        "content": {"membership": membership, **extra},
    }


class MembershipTestCase(BatchStateTestCase):
    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["server_notices"] = {"system_mxid_localpart": "notices"}
        return config

    def membership(self, user_id: str) -> str | None:
        state = self.state("m.room.member", user_id)
        return None if state is None else state["membership"]

    def member_content(self, user_id: str) -> JsonDict:
        content = self.state("m.room.member", user_id)
        assert content is not None, f"{user_id} has no membership"
        return content

    def test_invite_kick_ban_and_unban_local_users(self) -> None:
        carol, carol_token = self.register_member("carol")
        dave, _ = self.register_member("dave")
        erin, _ = self.register_member("erin")
        self.helper.join(self.room_id, carol, tok=carol_token)
        self.helper.ban(self.room_id, self.admin_id, erin, tok=self.admin_token)

        code, body = self.batch(
            [
                member(dave, "invite"),
                member(carol, "leave", reason="bye"),
                member(self.mod_id, "ban"),
                member(erin, "leave"),
                {"event_type": "m.room.topic", "content": {"topic": "after"}},
            ]
        )
        self.assertEqual(code, 200, body)
        self.assertTrue(all(body), body)
        self.assertEqual(self.membership(dave), "invite")
        self.assertEqual(self.membership(carol), "leave")
        self.assertEqual(self.member_content(carol)["reason"], "bye")
        self.assertEqual(self.membership(self.mod_id), "ban")
        self.assertEqual(self.membership(erin), "leave")
        self.assertEqual(self.state("m.room.topic"), {"topic": "after"})

    def test_remote_users_can_be_banned_and_unbanned(self) -> None:
        remote = "@troll:remote.example.com"
        code, body = self.batch([member(remote, "ban", reason="spam")])
        self.assertEqual(code, 200, body)
        self.assertEqual(self.membership(remote), "ban")
        code, body = self.batch([member(remote, "leave")])
        self.assertEqual(code, 200, body)
        self.assertEqual(self.membership(remote), "leave")

    def test_transition_rules_apply(self) -> None:
        frank, _ = self.register_member("frank")
        self.helper.ban(self.room_id, self.admin_id, frank, tok=self.admin_token)
        code, body = self.batch([member(frank, "invite")])
        # Same answer as PUT /state: 403 M_BAD_STATE, "Cannot invite user who
        # was banned".
        self.assertEqual(code, 403, body)
        (detail,) = body["org.matrix.msc3192.errors"]
        self.assertEqual(detail["errcode"], Codes.BAD_STATE)
        self.assertEqual(self.membership(frank), "ban")

    def test_membership_failures_do_not_stop_later_items(self) -> None:
        frank, _ = self.register_member("frank")
        self.helper.ban(self.room_id, self.admin_id, frank, tok=self.admin_token)
        code, body = self.batch(
            [
                member(frank, "invite"),
                {"event_type": "m.room.name", "content": {"name": "n"}},
            ]
        )
        self.assertEqual(code, 200, body)
        self.assertIsNone(body[0])
        self.assertIsNotNone(body[1])

    def test_member_items_need_power_like_single_sends(self) -> None:
        code, body = self.batch([member(self.admin_id, "ban")], token=self.mod_token)
        self.assertEqual(code, 403, body)
        self.assertEqual(self.membership(self.admin_id), "join")

    def test_spam_checker_user_may_invite_is_consulted(self) -> None:
        grace, _ = self.register_member("grace")
        heidi, _ = self.register_member("heidi")
        asked: list[str] = []

        async def user_may_invite(inviter: str, invitee: str, room_id: str) -> Any:
            asked.append(invitee)
            return Codes.FORBIDDEN if invitee == grace else NOT_SPAM

        self.hs.get_module_api().register_spam_checker_callbacks(
            user_may_invite=user_may_invite
        )
        code, body = self.batch([member(grace, "invite"), member(heidi, "invite")])
        self.assertEqual(code, 200, body)
        self.assertIsNone(body[0])
        self.assertIsNotNone(body[1])
        self.assertEqual(asked, [grace, heidi])
        self.assertIsNone(self.membership(grace))

    def test_spam_checker_user_may_send_state_event_is_consulted(self) -> None:
        # Set before the checker exists; the repeat below is refused all the same,
        # as PUT /state refuses it.
        self.helper.send_state(
            self.room_id, "m.room.name", {"name": "old"}, tok=self.admin_token
        )

        async def user_may_send_state_event(
            user_id: str, room_id: str, event_type: str, state_key: str, content: Any
        ) -> Any:
            return Codes.FORBIDDEN if event_type == "m.room.name" else NOT_SPAM

        self.hs.get_module_api().register_spam_checker_callbacks(
            user_may_send_state_event=user_may_send_state_event
        )
        code, body = self.batch(
            [
                {"event_type": "m.room.name", "content": {"name": "spam"}},
                {"event_type": "m.room.topic", "content": {"topic": "fine"}},
            ]
        )
        self.assertEqual(code, 200, body)
        self.assertIsNone(body[0])
        self.assertIsNotNone(body[1])
        code, body = self.batch(
            [{"event_type": "m.room.name", "content": {"name": "old"}}]
        )
        self.assertEqual(code, 403, body)

    def test_check_event_for_spam_is_consulted(self) -> None:
        async def check_event_for_spam(event: EventBase) -> Any:
            if event.content.get("spam"):
                return Codes.FORBIDDEN
            return NOT_SPAM

        self.hs.get_module_api().register_spam_checker_callbacks(
            check_event_for_spam=check_event_for_spam
        )
        code, body = self.batch(
            [
                {"event_type": "org.example.a", "content": {"spam": True}},
                {"event_type": "org.example.b", "content": {}},
            ]
        )
        self.assertEqual(code, 200, body)
        self.assertIsNone(body[0])
        self.assertIsNone(self.state("org.example.a"))
        self.assertIsNotNone(body[1])

    def test_cannot_invite_server_notices_user(self) -> None:
        # Server notices are configured in default_config below.
        code, body = self.batch([member("@notices:test", "invite")])
        self.assertEqual(code, 403, body)
        self.assertIn("Cannot invite this user", body["error"])


class BlockNonAdminInvitesTestCase(BatchStateTestCase):
    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["block_non_admin_invites"] = True
        return config

    def test_invites_are_blocked_for_non_admins(self) -> None:
        judy, _ = self.register_member("judy")
        code, body = self.batch([member(judy, "invite")])
        self.assertEqual(code, 403, body)
        self.assertIsNone(self.state("m.room.member", judy))

    def test_server_admins_may_still_invite(self) -> None:
        root, root_token = self.register_admin("root")
        judy, _ = self.register_member("judy")
        room_id = self.helper.create_room_as(root, tok=root_token)
        code, body = self.batch(
            [member(judy, "invite")], token=root_token, room_id=room_id
        )
        self.assertEqual(code, 200, body)
        self.assertTrue(body[0])
