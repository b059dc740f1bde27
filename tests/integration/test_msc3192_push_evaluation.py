"""MSC3192: Synapse's push-rule evaluator runs over a batch's events with one
staging transaction and no per-target membership read, and nothing else changes:
who is notified, what a failure leaves behind, and the notifications of other
requests running at the same time."""

from typing import Any
from unittest.mock import patch
from urllib.parse import quote

from synapse.api.errors import SynapseError
from twisted.internet import defer

from msc_extensions.msc3192.items import BatchItem
from tests.integration.test_msc3192_member_rules import MemberRulesBase, member

#: The transaction of Synapse's ``check_local_user_in_room``.
MEMBERSHIP_READ = "get_local_current_membership_for_user_in_room"


class BatchPushEvaluationTestCase(MemberRulesBase):
    """Invites in a batch (``batch_room``) against single invites
    (``single_room``)."""

    def invitees(self, count: int, prefix: str) -> list[tuple[str, str]]:
        return [self.register_member(f"{prefix}{i}") for i in range(count)]

    def apply(self, items: list[Any]) -> "defer.Deferred[Any]":
        """The batch of ``items`` in ``batch_room``, by its owner, not awaited."""
        requester = self.get_success(
            self.hs.get_auth().get_user_by_access_token(self.owner2_token)
        )
        return defer.ensureDeferred(
            self.handler.apply(
                requester,
                self.batch_room,
                [
                    BatchItem(index, event_type, state_key, content)
                    for index, (event_type, state_key, content) in enumerate(items)
                ],
            )
        )

    def notified_of(self, token: str, room_id: str) -> int:
        code, body = self.request_json(
            "GET", "/_matrix/client/v3/notifications", access_token=token
        )
        self.assertEqual(code, 200, body)
        return sum(1 for n in body["notifications"] if n["room_id"] == room_id)

    def staged_rows(self) -> list[Any]:
        rows: list[Any] = self.get_success(
            self.store.db_pool.simple_select_list(
                "event_push_actions_staging", None, ["event_id", "user_id"]
            )
        )
        return rows

    def transactions_during(self, run: Any) -> list[str]:
        """The names of the database transactions that ``run()`` makes."""
        names: list[str] = []
        db_pool = self.store.db_pool
        run_interaction = db_pool.runInteraction

        def counting(desc: str, *args: Any, **kwargs: Any) -> Any:
            names.append(desc)
            return run_interaction(desc, *args, **kwargs)

        with patch.object(db_pool, "runInteraction", counting):
            run()
        return names

    def test_a_batch_stages_its_notifications_in_one_transaction(self) -> None:
        invitees = self.invitees(10, "inv")
        items = [member(user_id, "invite") for user_id, _ in invitees]
        names = self.transactions_during(lambda: self.get_success(self.apply(items)))
        # Synapse's own path stages one transaction per invitee, and reads each
        # invitee's membership (see the single invites below).
        self.assertEqual(names.count("add_push_actions_to_staging"), 0, names)
        self.assertEqual(names.count(MEMBERSHIP_READ), 0, names)
        self.assertEqual(names.count("msc_extensions_stage_batch_push_actions"), 1)
        for user_id, token in invitees:
            self.assertEqual(self.notified_of(token, self.batch_room), 1, user_id)
        self.assertEqual(self.staged_rows(), [])

        single_invitees = self.invitees(2, "single")
        names = self.transactions_during(
            lambda: self.singles(
                [member(user_id, "invite") for user_id, _ in single_invitees]
            )
        )
        self.assertEqual(names.count("add_push_actions_to_staging"), 2, names)
        # Once by the membership handler, once by the evaluator.
        self.assertEqual(names.count(MEMBERSHIP_READ), 2 * 2, names)

    def test_kicks_and_bans_notify_whom_single_calls_notify(self) -> None:
        """The joined check decides whose push rules are run for a kick or a
        ban: a joined target's, not a pre-emptive ban's. With a rule that
        notifies of every membership event, the kicked and banned members are
        notified and the invited and unknown users are not, as with single
        calls."""
        joined_kicked = self.register_member("joinedkicked")
        joined_banned = self.register_member("joinedbanned")
        invited_banned = self.register_member("invitedbanned")
        stranger_banned = self.register_member("strangerbanned")
        for _, token in (joined_kicked, joined_banned, invited_banned, stranger_banned):
            self.notify_of_every_membership_event(token)

        def setup(room_id: str, owner_token: str) -> None:
            for user_id, token in (joined_kicked, joined_banned):
                self.helper.invite(room_id, targ=user_id, tok=owner_token)
                self.helper.join(room_id, user_id, tok=token)
            self.helper.invite(room_id, targ=invited_banned[0], tok=owner_token)

        self.in_both(setup)
        before = {
            (user_id, room_id): self.notified_of(token, room_id)
            for user_id, token in (
                joined_kicked,
                joined_banned,
                invited_banned,
                stranger_banned,
            )
            for room_id in self.rooms()
        }
        items = [
            member(joined_kicked[0], "leave"),
            member(joined_banned[0], "ban"),
            member(invited_banned[0], "ban"),
            member(stranger_banned[0], "ban"),
        ]
        names = self.transactions_during(
            lambda: self.assert_same_decisions(items, [(True, None)] * len(items))
        )
        # Read twice per target by the single calls (see above), never by the
        # batch.
        self.assertEqual(names.count(MEMBERSHIP_READ), 2 * len(items), names)
        expected = {
            joined_kicked[0]: 1,
            joined_banned[0]: 1,
            invited_banned[0]: 0,
            stranger_banned[0]: 0,
        }
        for user_id, token in (
            joined_kicked,
            joined_banned,
            invited_banned,
            stranger_banned,
        ):
            for room_id in self.rooms():
                self.assertEqual(
                    self.notified_of(token, room_id) - before[(user_id, room_id)],
                    expected[user_id],
                    (user_id, room_id == self.batch_room),
                )

    def notify_of_every_membership_event(self, token: str) -> None:
        code, body = self.request_json(
            "PUT",
            "/_matrix/client/v3/pushrules/global/override/every.member.event",
            {
                "conditions": [
                    {"kind": "event_match", "key": "type", "pattern": "m.room.member"}
                ],
                "actions": ["notify"],
            },
            access_token=token,
        )
        self.assertEqual(code, 200, body)

    def test_a_failure_while_persisting_leaves_nothing_staged(self) -> None:
        invitees = self.invitees(3, "inv")
        items = [member(user_id, "invite") for user_id, _ in invitees]
        creation = self.hs.get_event_creation_handler()
        with patch.object(
            creation,
            "persist_and_notify_client_events",
            side_effect=SynapseError(500, "disk full"),
        ):
            results = self.get_success(self.apply(items))
        self.assertEqual([r.event_id for r in results], [None] * len(items))
        self.assertEqual(self.staged_rows(), [])
        for user_id, token in invitees:
            self.assertIsNone(self.membership_in(self.batch_room, user_id))
            self.assertEqual(self.notified_of(token, self.batch_room), 0)
        # The next batch, and its notifications, are unaffected.
        self.get_success(self.apply(items))
        for user_id, token in invitees:
            self.assertEqual(self.membership_in(self.batch_room, user_id), "invite")
            self.assertEqual(self.notified_of(token, self.batch_room), 1, user_id)

    def test_a_failure_while_evaluating_stages_nothing(self) -> None:
        invitees = self.invitees(3, "inv")
        items = [member(user_id, "invite") for user_id, _ in invitees]
        store = self.store
        profiles = store.get_subset_users_in_room_with_profiles
        last = invitees[-1][0]

        def fail_on_the_last(room_id: str, user_ids: Any) -> Any:
            # The evaluator asks for the profile of one invitee at a time.
            if list(user_ids) == [last]:
                raise SynapseError(500, "database went away")
            return profiles(room_id, user_ids)

        with patch.object(
            store, "get_subset_users_in_room_with_profiles", fail_on_the_last
        ):
            results = self.get_success(self.apply(items))
        self.assertEqual([r.event_id for r in results], [None] * len(items))
        # Synapse's own path would have left the first two invitees' rows.
        self.assertEqual(self.staged_rows(), [])
        for _, token in invitees:
            self.assertEqual(self.notified_of(token, self.batch_room), 0)

    def test_a_single_invite_meanwhile_in_another_room_is_unaffected(self) -> None:
        batch_invitees = self.invitees(3, "inv")
        single_invitee, single_token = self.register_member("solo")
        items = [member(user_id, "invite") for user_id, _ in batch_invitees]
        evaluator = self.hs.get_bulk_push_rule_evaluator()
        power_levels = evaluator._get_power_levels_and_sender_level
        gate: defer.Deferred[None] = defer.Deferred()
        held = []

        async def held_at_the_second_event(event: Any, *args: Any) -> Any:
            if event.state_key == batch_invitees[1][0]:
                # The first invitee's notification is kept in memory now.
                held.append(event.event_id)
                await gate
            return await power_levels(event, *args)

        with patch.object(
            evaluator, "_get_power_levels_and_sender_level", held_at_the_second_event
        ):
            batch = self.apply(items)
            self.pump()
            self.assertFalse(batch.called)
            self.assertEqual(len(held), 1)
            code, body = self.request_json(
                "POST",
                f"/_matrix/client/v3/rooms/{quote(self.single_room)}/invite",
                {"user_id": single_invitee},
                access_token=self.admin_token,
            )
            self.assertEqual(code, 200, body)
            # Staged and persisted on its own while the batch is half evaluated.
            self.assertEqual(self.notified_of(single_token, self.single_room), 1)
            self.assertEqual(self.staged_rows(), [])
            gate.callback(None)
            self.get_success(batch)
        for user_id, token in batch_invitees:
            self.assertEqual(self.notified_of(token, self.batch_room), 1, user_id)
        self.assertEqual(self.notified_of(single_token, self.batch_room), 0)
        self.assertEqual(self.staged_rows(), [])
