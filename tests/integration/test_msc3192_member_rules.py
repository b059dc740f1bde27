"""MSC3192 semantics 6 on the batch path: each membership item gets the decision
``PUT /state/m.room.member/{userId}`` gives on the same state, allowed or refused
with the same errcode, alone and after earlier items that change that state.

Every test sets up two rooms the same way: the single calls run in one, the batch
in the other, each by its own owner (so that per-issuer invite limits do not mix).
"""

from collections.abc import Callable, Sequence
from typing import Any
from unittest.mock import AsyncMock, patch
from urllib.parse import quote

from synapse.api.constants import AccountDataTypes
from synapse.api.errors import Codes
from synapse.events import EventBase
from synapse.module_api import NOT_SPAM
from synapse.types import JsonDict, UserID

from msc_extensions.msc3192.config import Msc3192Config
from msc_extensions.msc3192.feature import build_handler
from msc_extensions.msc3192.items import BatchItem
from msc_extensions.msc3192.response import client_errcode
from tests.integration.test_msc3192_base import BatchStateTestCase

#: An item as (event_type, state_key, content).
Item = tuple[str, str, JsonDict]
#: What became of an item: allowed, and the errcode when refused.
Decision = tuple[bool, str | None]

ALLOWED: Decision = (True, None)
#: What the auth rules answer a sender without the power for a change, or a change
#: they do not allow (the stable errcode; MSC3848's are not enabled).
NO_POWER: Decision = (False, Codes.FORBIDDEN)


def member(user_id: str, membership: str, **extra: Any) -> Item:
    return ("m.room.member", user_id, {"membership": membership, **extra})


class MemberRulesBase(BatchStateTestCase):
    """Rooms ``single_room`` (owner ``admin``) and ``batch_room`` (owner
    ``owner2``), each with ``mod`` joined at power 0 and ``carol`` and ``dave``
    joined."""

    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["server_notices"] = {"system_mxid_localpart": "notices"}
        # Invite rules: Synapse before 1.149.0 has only MSC4155's, behind this flag.
        config.setdefault("experimental_features", {})["msc4155_enabled"] = True
        return config

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.owner2_id, self.owner2_token = self.register_member("owner2")
        self.carol, self.carol_token = self.register_member("carol")
        self.dave, self.dave_token = self.register_member("dave")
        self.frank, self.frank_token = self.register_member("frank")
        self.single_room = self.room_id
        self.batch_room = self.helper.create_room_as(
            self.owner2_id, tok=self.owner2_token
        )
        for room_id in self.rooms():
            for token in (self.mod_token, self.carol_token, self.dave_token):
                self.helper.join(room_id, self._user_of(token), tok=token)
        self.handler = build_handler(hs, Msc3192Config())

    def _user_of(self, token: str) -> str:
        return {
            self.mod_token: self.mod_id,
            self.carol_token: self.carol,
            self.dave_token: self.dave,
            self.frank_token: self.frank,
        }[token]

    def rooms(self) -> tuple[str, str]:
        return self.single_room, self.batch_room

    def owner_token(self, room_id: str) -> str:
        return self.admin_token if room_id == self.single_room else self.owner2_token

    def in_both(self, setup: Callable[[str, str], None]) -> None:
        """Run ``setup(room_id, owner_token)`` in both rooms."""
        for room_id in self.rooms():
            setup(room_id, self.owner_token(room_id))

    def singles(self, items: Sequence[Item], token: str | None = None) -> list[Any]:
        """Each item as its own ``PUT /state`` in the single room: its event ID or
        its errcode."""
        answers = []
        for event_type, state_key, content in items:
            code, body = self.request_json(
                "PUT",
                f"/_matrix/client/v3/rooms/{quote(self.single_room)}/state/"
                f"{quote(event_type)}/{quote(state_key)}",
                content,
                access_token=token or self.admin_token,
            )
            answers.append(body["event_id"] if code == 200 else body["errcode"])
        return answers

    def batched(self, items: Sequence[Item], token: str | None = None) -> list[Any]:
        """The items as one batch in the batch room: for each, its event ID or its
        errcode."""
        requester = self.get_success(
            self.hs.get_auth().get_user_by_access_token(token or self.owner2_token)
        )
        results = self.get_success(
            self.handler.apply(
                requester,
                self.batch_room,
                [
                    BatchItem(index, event_type, state_key, content)
                    for index, (event_type, state_key, content) in enumerate(items)
                ],
            )
        )
        return [
            r.event_id if r.error is None else client_errcode(r.error) for r in results
        ]

    def assert_same_decisions(
        self,
        items: Sequence[Item],
        expected: Sequence[Decision],
        single_token: str | None = None,
        batch_token: str | None = None,
    ) -> tuple[list[Any], list[Any]]:
        singles = self.singles(items, single_token)
        batched = self.batched(items, batch_token)
        self.assertEqual([_decision(a) for a in singles], list(expected), singles)
        self.assertEqual([_decision(a) for a in batched], list(expected), batched)
        for _, state_key, _ in items:
            if state_key.startswith("@"):
                self.assertEqual(
                    self.membership_in(self.single_room, state_key),
                    self.membership_in(self.batch_room, state_key),
                    state_key,
                )
        return singles, batched

    def membership_in(self, room_id: str, user_id: str) -> str | None:
        event = self.member_event(room_id, user_id)
        return None if event is None else event.content["membership"]

    def member_event(self, room_id: str, user_id: str) -> EventBase | None:
        state = self.get_success(
            self.hs.get_storage_controllers().state.get_current_state_ids(room_id)
        )
        event_id = state.get(("m.room.member", user_id))
        if event_id is None:
            return None
        event: EventBase = self.get_success(self.store.get_event(event_id))
        return event


class MemberRulesTestCase(MemberRulesBase):
    """One test per rule."""

    # Invites

    def test_invite_of_a_local_user_carries_their_profile(self) -> None:
        self.get_success(
            self.hs.get_profile_handler().set_displayname(
                target_user=UserID.from_string(self.frank),
                requester=self.get_success(
                    self.hs.get_auth().get_user_by_access_token(self.frank_token)
                ),
                new_displayname="Frank F.",
            )
        )
        self.assert_same_decisions([member(self.frank, "invite")], [ALLOWED])
        for room_id in self.rooms():
            event = self.member_event(room_id, self.frank)
            assert event is not None
            self.assertEqual(event.content["displayname"], "Frank F.")

    def test_invite_of_a_banned_user(self) -> None:
        self.in_both(
            lambda room, tok: self.helper.ban(
                room, self._owner(tok), self.frank, tok=tok
            )
        )
        self.assert_same_decisions(
            [member(self.frank, "invite")], [(False, Codes.BAD_STATE)]
        )

    def test_invite_of_a_joined_user(self) -> None:
        self.assert_same_decisions(
            [member(self.carol, "invite")], [(False, Codes.FORBIDDEN)]
        )

    def test_repeated_invite_answers_the_existing_event(self) -> None:
        self.in_both(
            lambda room, tok: self.helper.invite(
                room, self._owner(tok), self.frank, tok=tok
            )
        )
        before = [self.member_event(room, self.frank) for room in self.rooms()]
        singles, batched = self.assert_same_decisions(
            [member(self.frank, "invite")], [ALLOWED]
        )
        self.assertEqual(
            [singles[0], batched[0]], [e.event_id for e in before if e is not None]
        )

    def test_invite_of_the_server_notices_user(self) -> None:
        self.assert_same_decisions(
            # "Cannot invite this user", without an errcode of its own.
            [member("@notices:test", "invite")],
            [(False, Codes.UNKNOWN)],
        )

    def test_invite_without_power(self) -> None:
        self.in_both(
            lambda room, tok: self.helper.send_state(
                room,
                "m.room.power_levels",
                _levels(invite=50),
                tok=tok,
            )
        )
        self.assert_same_decisions(
            [member(self.frank, "invite")],
            [NO_POWER],
            single_token=self.mod_token,
            batch_token=self.mod_token,
        )

    def test_spam_checker_user_may_invite_refuses_chosen_users(self) -> None:
        async def user_may_invite(inviter: str, invitee: str, room_id: str) -> Any:
            return (Codes.CONSENT_NOT_GIVEN, {}) if invitee == self.frank else NOT_SPAM

        self.hs.get_module_api().register_spam_checker_callbacks(
            user_may_invite=user_may_invite
        )
        grace, _ = self.register_member("grace")
        # Server admins skip the spam check; the owners here are not admins.
        self.assert_same_decisions(
            [member(self.frank, "invite"), member(grace, "invite")],
            [(False, Codes.CONSENT_NOT_GIVEN), ALLOWED],
        )

    def test_invitee_invite_rules_block(self) -> None:
        # Synapse reads MSC4380's stable m.invite_permission_config from 1.149.0;
        # before that, only MSC4155's rules (whose flag default_config sets).
        rules: JsonDict
        if hasattr(AccountDataTypes, "INVITE_PERMISSION_CONFIG"):
            kind, rules = "m.invite_permission_config", {"default_action": "block"}
        else:
            kind, rules = (
                AccountDataTypes.MSC4155_INVITE_PERMISSION_CONFIG,
                {"blocked_users": ["*"]},
            )
        self.get_success(
            self.hs.get_account_data_handler().add_account_data_for_user(
                self.frank, kind, rules
            )
        )
        self.assert_same_decisions(
            [member(self.frank, "invite")], [(False, Codes.INVITE_BLOCKED)]
        )

    def test_suspended_requester_may_not_invite(self) -> None:
        for owner in (self.admin_id, self.owner2_id):
            self.get_success(
                self.hs.get_datastores().main.set_user_suspended_status(owner, True)
            )
        self.assert_same_decisions(
            [member(self.frank, "invite")], [(False, Codes.USER_ACCOUNT_SUSPENDED)]
        )

    def test_profile_field_over_the_limit(self) -> None:
        self.assert_same_decisions(
            [member(self.frank, "invite", displayname="x" * 300)],
            [(False, Codes.BAD_JSON)],
        )

    # Kicks, bans, unbans

    def test_kick_of_a_member(self) -> None:
        self.assert_same_decisions(
            [member(self.carol, "leave", reason="bye")], [ALLOWED]
        )

    def test_leave_for_someone_not_in_the_room(self) -> None:
        # PUT /state sets the target membership: allowed by the auth rules, unlike
        # POST /kick ("The target user is not in the room").
        self.assert_same_decisions([member(self.frank, "leave")], [ALLOWED])

    def test_kick_of_someone_with_more_power(self) -> None:
        self.in_both(
            lambda room, tok: self.helper.send_state(
                room,
                "m.room.power_levels",
                _levels(users={self.carol: 100}),
                tok=tok,
            )
        )
        self.assert_same_decisions(
            [member(self.carol, "leave")],
            [NO_POWER],
            single_token=self.mod_token,
            batch_token=self.mod_token,
        )

    def test_ban_of_a_member_and_of_a_stranger(self) -> None:
        self.assert_same_decisions(
            [member(self.carol, "ban", reason="spam"), member(self.frank, "ban")],
            [ALLOWED, ALLOWED],
        )

    def test_ban_without_power(self) -> None:
        self.assert_same_decisions(
            [member(self.carol, "ban")],
            [NO_POWER],
            single_token=self.mod_token,
            batch_token=self.mod_token,
        )

    def test_unban_of_a_banned_user(self) -> None:
        self.in_both(
            lambda room, tok: self.helper.ban(
                room, self._owner(tok), self.frank, tok=tok
            )
        )
        self.assert_same_decisions([member(self.frank, "leave")], [ALLOWED])

    def test_unban_without_power(self) -> None:
        self.in_both(
            lambda room, tok: self.helper.ban(
                room, self._owner(tok), self.frank, tok=tok
            )
        )
        self.assert_same_decisions(
            [member(self.frank, "leave")],
            [NO_POWER],
            single_token=self.mod_token,
            batch_token=self.mod_token,
        )

    def test_repeated_ban_answers_the_existing_event(self) -> None:
        self.in_both(
            lambda room, tok: self.helper.ban(
                room, self._owner(tok), self.frank, tok=tok
            )
        )
        before = [self.member_event(room, self.frank) for room in self.rooms()]
        singles, batched = self.assert_same_decisions(
            [member(self.frank, "ban")], [ALLOWED]
        )
        self.assertEqual(
            [singles[0], batched[0]], [e.event_id for e in before if e is not None]
        )

    # Modules

    def test_third_party_rules_refuse_chosen_users(self) -> None:
        async def check_event_allowed(event: EventBase, state: Any) -> Any:
            return (event.get_state_key() != self.carol, None)

        self.hs.get_module_api().register_third_party_rules_callbacks(
            check_event_allowed=check_event_allowed
        )
        self.assert_same_decisions(
            [member(self.carol, "ban"), member(self.dave, "ban")],
            [(False, Codes.FORBIDDEN), ALLOWED],
        )

    def test_spam_checker_user_may_send_state_event_refuses_kicks(self) -> None:
        async def user_may_send_state_event(
            user_id: str, room_id: str, event_type: str, state_key: str, content: Any
        ) -> Any:
            if content.get("membership") == "leave":
                return Codes.CONSENT_NOT_GIVEN
            return NOT_SPAM

        self.hs.get_module_api().register_spam_checker_callbacks(
            user_may_send_state_event=user_may_send_state_event
        )
        self.assert_same_decisions(
            [member(self.carol, "leave"), member(self.dave, "ban")],
            [(False, Codes.CONSENT_NOT_GIVEN), ALLOWED],
        )

    def test_check_event_for_spam_is_not_asked_about_memberships(self) -> None:
        # Synapse's membership path does not ask it; neither does the batch.
        async def check_event_for_spam(event: EventBase) -> Any:
            return Codes.FORBIDDEN

        self.hs.get_module_api().register_spam_checker_callbacks(
            check_event_for_spam=check_event_for_spam
        )
        self.assert_same_decisions([member(self.carol, "ban")], [ALLOWED])

    # State changed by earlier items

    def test_later_items_see_power_changed_by_earlier_ones(self) -> None:
        # mod, at 100, lowers their own level to 0: the ban and invite after it
        # are refused, in the batch as one by one.
        self.in_both(
            lambda room, tok: self.helper.send_state(
                room, "m.room.power_levels", _levels(users={self.mod_id: 100}), tok=tok
            )
        )
        self.assert_same_decisions(
            [
                ("m.room.power_levels", "", _levels(invite=50, users={self.mod_id: 0})),
                member(self.carol, "ban"),
                member(self.frank, "invite"),
                member(self.dave, "leave"),
            ],
            [ALLOWED, NO_POWER, NO_POWER, NO_POWER],
            single_token=self.mod_token,
            batch_token=self.mod_token,
        )

    def test_later_items_see_the_requester_leave_in_an_earlier_one(self) -> None:
        # The requester's own leave goes through Synapse's single path, between
        # two batched runs; the run after it sees it.
        self.in_both(
            lambda room, tok: self.helper.send_state(
                room, "m.room.power_levels", _levels(users={self.mod_id: 100}), tok=tok
            )
        )
        self.assert_same_decisions(
            [
                member(self.carol, "ban"),
                member(self.mod_id, "leave"),
                member(self.dave, "ban"),
            ],
            [ALLOWED, ALLOWED, (False, Codes.FORBIDDEN)],
            single_token=self.mod_token,
            batch_token=self.mod_token,
        )

    def _owner(self, token: str) -> str:
        return self.admin_id if token == self.admin_token else self.owner2_id


def _levels(ban: int = 50, invite: int = 0, users: JsonDict | None = None) -> JsonDict:
    return {
        # The owner created the room: in room version 12, above every level.
        "users": dict(users or {}),
        "users_default": 0,
        "events_default": 0,
        "state_default": 50,
        "ban": ban,
        "kick": 0,
        "redact": 50,
        "invite": invite,
        "events": {"m.room.power_levels": 100},
    }


def _decision(answer: Any) -> Decision:
    if isinstance(answer, str) and answer.startswith("$"):
        return ALLOWED
    return (False, answer)


class MemberBatchPathTestCase(BatchStateTestCase):
    """Membership items on the batch path, as their users see them."""

    def sync_rooms(self, token: str) -> JsonDict:
        code, body = self.request_json(
            "GET", "/_matrix/client/v3/sync", access_token=token
        )
        self.assertEqual(code, 200, body)
        rooms: JsonDict = body["rooms"]
        return rooms

    def test_memberships_are_sent_without_update_membership(self) -> None:
        carol, carol_token = self.register_member("carol")
        dave, dave_token = self.register_member("dave")
        erin, erin_token = self.register_member("erin")
        frank, _ = self.register_member("frank")
        grace, _ = self.register_member("grace")
        for token in (carol_token, dave_token):
            self.helper.join(self.room_id, self._user(token), tok=token)
        self.helper.ban(self.room_id, self.admin_id, frank, tok=self.admin_token)
        # Each user has synced once, so that the next sync is incremental.
        since = {t: self._since(t) for t in (carol_token, dave_token, erin_token)}
        member_handler = self.hs.get_room_member_handler()
        with (
            patch.object(
                member_handler,
                "update_membership",
                AsyncMock(side_effect=AssertionError),
            ),
            patch.object(
                member_handler, "_user_left_room", AsyncMock(return_value=None)
            ) as left,
        ):
            code, body = self.batch(
                [
                    _item(member(frank, "invite")),  # banned: null
                    _item(member(erin, "invite")),
                    _item(member(carol, "leave", reason="bye")),
                    _item(member(dave, "ban", reason="spam")),
                    _item(member(grace, "ban")),
                    {"event_type": "m.room.topic", "content": {"topic": "after"}},
                ]
            )
        self.assertEqual(code, 200, body)
        self.assertIsNone(body[0])
        self.assertTrue(all(body[1:]), body)
        # Only the kick of a joined user counts as leaving, as in Synapse.
        left.assert_called_once()
        self.assertEqual(left.call_args.args[0].to_string(), carol)

        self.assertIn(self.room_id, self._sync(erin_token, since[erin_token])["invite"])
        # Her push rules (".m.rule.invite_for_me") notify her of the invite.
        actions = self.get_success(
            self.store.db_pool.simple_select_list(
                "event_push_actions", {"user_id": erin}, ["event_id"]
            )
        )
        self.assertEqual([row[0] for row in actions], [body[1]])
        for token in (carol_token, dave_token):
            self.assertIn(self.room_id, self._sync(token, since[token])["leave"])
        self.assertEqual(self.state("m.room.member", dave)["membership"], "ban")  # type: ignore[index]

        # The batch is one chain of events: one forward extremity.
        extremities = self.get_success(
            self.store.get_prev_events_for_room(self.room_id)
        )
        self.assertEqual(len(extremities), 1)

    def test_an_invitee_is_shown_a_name_set_earlier_in_the_batch(self) -> None:
        # As after `PUT /state/m.room.name` then `POST /invite`: the invite's
        # preview of the room, on the invitee's /sync, shows the new name.
        erin, erin_token = self.register_member("erin")
        code, body = self.batch(
            [
                {"event_type": "m.room.name", "content": {"name": "Renamed"}},
                _item(member(erin, "invite")),
            ]
        )
        self.assertEqual(code, 200, body)
        self.assertTrue(all(body), body)
        invite = self.sync_rooms(erin_token)["invite"][self.room_id]
        names = [
            e["content"].get("name")
            for e in invite["invite_state"]["events"]
            if e["type"] == "m.room.name"
        ]
        self.assertEqual(names, ["Renamed"])

    def _user(self, token: str) -> str:
        requester = self.get_success(self.hs.get_auth().get_user_by_access_token(token))
        user_id: str = requester.user.to_string()
        return user_id

    def _since(self, token: str) -> str:
        code, body = self.request_json(
            "GET", "/_matrix/client/v3/sync", access_token=token
        )
        self.assertEqual(code, 200, body)
        since: str = body["next_batch"]
        return since

    def _sync(self, token: str, since: str) -> JsonDict:
        code, body = self.request_json(
            "GET", f"/_matrix/client/v3/sync?since={since}", access_token=token
        )
        self.assertEqual(code, 200, body)
        rooms: JsonDict = body["rooms"]
        return rooms


class InviteRateLimitTestCase(MemberRulesBase):
    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["rc_invites"] = {"per_issuer": {"per_second": 0.001, "burst_count": 3}}
        return config

    def test_invite_limit_reached_inside_the_batch(self) -> None:
        invitees = [self.register_member(f"student{i}")[0] for i in range(5)]
        limited = (False, Codes.LIMIT_EXCEEDED)
        self.assert_same_decisions(
            [member(user_id, "invite") for user_id in invitees],
            [ALLOWED, ALLOWED, ALLOWED, limited, limited],
        )


class MemberPushTestCase(MemberRulesBase):
    """The targets of membership items are notified (their push rules, invite
    rules and profiles read in bulk by the batch) as single calls notify them."""

    def test_targets_get_the_notifications_single_calls_give(self) -> None:
        ivy, ivy_token = self.register_member("ivy")
        jack, jack_token = self.register_member("jack")
        kim, kim_token = self.register_member("kim")
        self.set_displayname(ivy_token, ivy, "Ivy")
        # Jack turned off notifications of invites.
        code, body = self.request_json(
            "PUT",
            "/_matrix/client/v3/pushrules/global/override/.m.rule.invite_for_me/enabled",
            {"enabled": False},
            access_token=jack_token,
        )
        self.assertEqual(code, 200, body)
        # Kim ignores invites (MSC4155, whose flag default_config sets): they
        # arrive, and never notify.
        self.get_success(
            self.hs.get_account_data_handler().add_account_data_for_user(
                kim,
                AccountDataTypes.MSC4155_INVITE_PERMISSION_CONFIG,
                {"ignored_users": ["*"]},
            )
        )
        # Carol asked to be notified, loudly, of her membership changes.
        code, body = self.request_json(
            "PUT",
            "/_matrix/client/v3/pushrules/global/override/memberships",
            {
                "conditions": [
                    {"kind": "event_match", "key": "type", "pattern": "m.room.member"}
                ],
                "actions": ["notify", {"set_tweak": "highlight"}],
            },
            access_token=self.carol_token,
        )
        self.assertEqual(code, 200, body)
        items = [
            member(ivy, "invite"),
            member(jack, "invite"),
            member(kim, "invite"),
            member(self.carol, "leave", reason="bye"),
            member(self.dave, "leave"),
        ]
        # The batch first, so that nothing of these users is cached by the
        # single calls before it reads them.
        batched = self.batched(items)
        singles = self.singles(items)
        self.assertEqual([_decision(a) for a in batched], [ALLOWED] * len(items))
        self.assertEqual([_decision(a) for a in singles], [ALLOWED] * len(items))

        expected_counts = {ivy: 1, jack: 0, kim: 0, self.carol: 1, self.dave: 0}
        for user_id, token in (
            (ivy, ivy_token),
            (jack, jack_token),
            (kim, kim_token),
            (self.carol, self.carol_token),
            (self.dave, self.dave_token),
        ):
            in_single = self.notifications(token, self.single_room)
            in_batch = self.notifications(token, self.batch_room)
            self.assertEqual(in_batch, in_single, user_id)
            self.assertEqual(len(in_batch), expected_counts[user_id], user_id)
        # The invite shows whom it is for, by the name Ivy chose.
        self.assertEqual(
            self.notifications(ivy_token, self.batch_room)[0][1]["displayname"], "Ivy"
        )

    def set_displayname(self, token: str, user_id: str, name: str) -> None:
        code, body = self.request_json(
            "PUT",
            f"/_matrix/client/v3/profile/{quote(user_id)}/displayname",
            {"displayname": name},
            access_token=token,
        )
        self.assertEqual(code, 200, body)

    def notifications(self, token: str, room_id: str) -> list[tuple[Any, JsonDict]]:
        """The user's notifications from ``room_id``: the push actions and the
        content of the event for each."""
        code, body = self.request_json(
            "GET", "/_matrix/client/v3/notifications", access_token=token
        )
        self.assertEqual(code, 200, body)
        return [
            (notification["actions"], notification["event"]["content"])
            for notification in body["notifications"]
            if notification["room_id"] == room_id
        ]


def _item(item: Item) -> JsonDict:
    event_type, state_key, content = item
    return {"event_type": event_type, "state_key": state_key, "content": content}
