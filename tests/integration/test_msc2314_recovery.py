"""MSC2314 point 6: the recovery admin API.

The room lives on ``other.example.com``; its state lists alice (a user of this
server) as joined, with a display name, but this server has lost every trace of
the room, as after a restore from a backup taken before alice joined.
"""

from typing import Any
from unittest.mock import patch
from urllib.parse import quote

from synapse.api.errors import Codes
from synapse.events import EventBase

from tests.integration.test_msc2314_fetching import ServedRemoteRoomTestCase

RECOVER = "/_synapse/admin/v1/msc_extensions/rooms/{room}/recover"


class _RecoveryTestCase(ServedRemoteRoomTestCase):
    def prepare(self, *args: Any) -> None:
        super().prepare(*args)
        fields = self._member_fields(self.alice_id, [self.create, self.power_levels])
        fields["content"]["displayname"] = "Alice Liddell"
        self.alice_old_join = self._event(fields, sign_as=self.hs.hostname)
        self.timeline.append(self.alice_old_join)
        self.latest = self._event(
            {
                "type": "m.room.message",
                "sender": self.creator,
                "content": {"msgtype": "m.text", "body": "before the loss"},
                "auth_events": [
                    self.create.event_id,
                    self.power_levels.event_id,
                    self.creator_join.event_id,
                ],
            }
        )
        self.timeline.append(self.latest)
        self.state = [e for e in self.timeline if e.is_state()]
        self.state_before[self.latest.event_id] = list(self.state)
        self.extra_events.append(self.latest)
        self.path = RECOVER.format(room=quote(self.room_id, safe=""))

    def recover(self, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        return self.request_json(
            "POST",
            self.path,
            {"servers": [self.OTHER_SERVER_NAME]} if body is None else body,
            access_token=token or self.admin_token,
        )

    def joined_rooms(self) -> list[str]:
        code, body = self.request_json(
            "GET", "/_matrix/client/v3/joined_rooms", access_token=self.alice_token
        )
        self.assertEqual(code, 200, body)
        rooms: list[str] = body["joined_rooms"]
        return rooms

    def remote_message(self, text: str) -> EventBase:
        latest = self.get_success(self.store.get_latest_event_ids_in_room(self.room_id))
        events = self.get_success(self.store.get_events_as_list(latest))
        event = self._event(
            {
                "type": "m.room.message",
                "sender": self.creator,
                "content": {"msgtype": "m.text", "body": text},
                "prev_events": list(latest),
                "depth": 1 + max(e.depth for e in events),
                "auth_events": [
                    self.create.event_id,
                    self.power_levels.event_id,
                    self.creator_join.event_id,
                ],
            }
        )
        self.get_success(
            self.hs.get_federation_event_handler().on_receive_pdu(
                self.OTHER_SERVER_NAME, event
            )
        )
        return event


class RecoveryTests(_RecoveryTestCase):
    def test_recovery_brings_alice_back_without_a_new_event(self) -> None:
        self.assertEqual(self.joined_rooms(), [])
        code, body = self.recover()
        self.assertEqual(code, 200, body)
        self.assertEqual(body["room_version"], "10")
        self.assertEqual(body["server"], self.OTHER_SERVER_NAME)
        self.assertEqual(body["users_restored"], [self.alice_id])
        self.assertEqual(self.joined_rooms(), [self.room_id])
        self.assertEqual(self.joined_members(), {*self.members, self.alice_id})

        # Her membership is the old one, display name included: no new event.
        code, member = self.request_json(
            "GET",
            f"/_matrix/client/v3/rooms/{self.room_id}/state/m.room.member/{self.alice_id}",
            access_token=self.alice_token,
        )
        self.assertEqual(code, 200, member)
        self.assertEqual(member["displayname"], "Alice Liddell")
        latest = self.get_success(self.store.get_latest_event_ids_in_room(self.room_id))
        self.assertEqual(set(latest), {self.latest.event_id})

        # She receives new events from the room, and can send again.
        self.remote_message("after the recovery")
        code, messages = self.request_json(
            "GET",
            f"/_matrix/client/v3/rooms/{self.room_id}/messages?dir=b&limit=5",
            access_token=self.alice_token,
        )
        self.assertEqual(code, 200, messages)
        bodies = [e["content"].get("body") for e in messages["chunk"]]
        self.assertEqual(bodies[0], "after the recovery")
        self.helper.send(self.room_id, "alice is back", tok=self.alice_token)

    def test_a_second_call_changes_nothing(self) -> None:
        self.assertEqual(self.recover()[0], 200)
        code, body = self.recover()
        self.assertEqual(code, 409, body)
        self.assertIn("force", body["error"])
        code, body = self.recover({"servers": [self.OTHER_SERVER_NAME], "force": True})
        self.assertEqual(code, 200, body)
        self.assertEqual(body["events_persisted"], 0)
        self.assertEqual(self.joined_rooms(), [self.room_id])

    def test_a_room_without_local_members_is_refused(self) -> None:
        self.state.remove(self.alice_old_join)
        code, body = self.recover()
        self.assertEqual(code, 409, body)
        self.assertIn("no user of this server", body["error"])
        self.assertIsNone(self.get_success(self.store.get_room(self.room_id)))

    def test_a_forged_state_is_refused_and_nothing_is_stored(self) -> None:
        self.served_version = "9"
        code, body = self.recover()
        self.assertEqual(code, 502, body)
        self.assertIn(self.OTHER_SERVER_NAME, body["error"])
        self.assertIn("m.room.create says 10", body["error"])
        self.assertIsNone(self.get_success(self.store.get_room(self.room_id)))
        self.assertEqual(self.joined_rooms(), [])

    def test_the_status_reports_the_last_recovery(self) -> None:
        code, body = self.request_json("GET", self.path, access_token=self.admin_token)
        self.assertEqual(code, 404, body)
        self.recover()
        code, body = self.request_json("GET", self.path, access_token=self.admin_token)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["status"], "succeeded")
        self.assertEqual(body["report"]["users_restored"], [self.alice_id])
        progress = body["progress"]
        self.assertGreater(progress["events_fetched"], 0)
        self.assertGreater(progress["events_validated"], 0)
        self.assertEqual(progress["events_persisted"], len(self.state) + 1)

    def test_server_admins_only(self) -> None:
        code, body = self.recover(token=self.alice_token)
        self.assertEqual(code, 403, body)
        self.assertEqual(body["errcode"], Codes.FORBIDDEN)
        code, body = self.request_json("POST", self.path, {"servers": ["x.example"]})
        self.assertEqual(code, 401, body)

    def test_bad_bodies_are_400(self) -> None:
        bad: Any
        for bad in (
            {},
            {"servers": []},
            {"servers": "other.example.com"},
            {"servers": [1]},
            {"servers": ["not a server"]},
            {"servers": [self.OTHER_SERVER_NAME], "force": "yes"},
            {"servers": [self.hs.hostname]},
        ):
            code, body = self.recover(bad)
            self.assertEqual(code, 400, f"{bad}: {body}")
        self.assertIsNone(self.get_success(self.store.get_room(self.room_id)))


class SlowRecoveryTests(_RecoveryTestCase):
    module_settings = {"msc2314": {"recovery_wait": 0}}

    def test_a_slow_recovery_answers_202_with_a_status_url(self) -> None:
        from twisted.internet.defer import Deferred

        release: Deferred[None] = Deferred()
        served = self._get_json

        async def slow(destination: str, path: str, args: Any = None, **kw: Any) -> Any:
            await release
            return await served(destination, path, args, **kw)

        self.hs.get_federation_http_client().get_json.side_effect = slow
        code, body = self.recover()
        self.assertEqual(code, 202, body)
        self.assertEqual(body["status"], "running")
        self.assertEqual(body["status_url"], self.path)
        # Asking again joins the running recovery.
        code, again = self.recover()
        self.assertEqual(code, 202, again)

        release.callback(None)
        self.reactor.advance(0.1)
        code, status = self.request_json(
            "GET", self.path, access_token=self.admin_token
        )
        self.assertEqual(code, 200, status)
        self.assertEqual(status["status"], "succeeded")
        self.assertEqual(status["report"]["users_restored"], [self.alice_id])
        self.assertEqual(self.joined_rooms(), [self.room_id])


class EventsDuringRecoveryTests(_RecoveryTestCase):
    def test_an_event_arriving_while_the_room_is_stored_is_kept(self) -> None:
        handler = self.hs.get_federation_event_handler()
        synapse_process_remote_join = handler.process_remote_join
        arrived = self._event(
            {
                "type": "m.room.message",
                "sender": self.creator,
                "content": {"msgtype": "m.text", "body": "sent during the recovery"},
                "prev_events": [self.latest.event_id],
                "depth": self.latest.depth + 1,
                "auth_events": [
                    self.create.event_id,
                    self.power_levels.event_id,
                    self.creator_join.event_id,
                ],
            }
        )

        async def arrives_meanwhile(*args: Any, **kwargs: Any) -> int:
            # The room's row exists; its state is not stored yet.
            await handler.on_receive_pdu(self.OTHER_SERVER_NAME, arrived)
            stream_id: int = await synapse_process_remote_join(*args, **kwargs)
            return stream_id

        with patch.object(handler, "process_remote_join", arrives_meanwhile):
            code, body = self.recover()
        self.assertEqual(code, 200, body)
        self.reactor.advance(0.5)
        code, messages = self.request_json(
            "GET",
            f"/_matrix/client/v3/rooms/{self.room_id}/messages?dir=b&limit=5",
            access_token=self.alice_token,
        )
        self.assertEqual(code, 200, messages)
        bodies = [e["content"].get("body") for e in messages["chunk"]]
        self.assertEqual(bodies[0], "sent during the recovery")
