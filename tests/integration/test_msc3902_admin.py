"""MSC3902 point 7: the admin API on partial-state rooms."""

from typing import Any

from tests.integration.test_msc3902_fixture import PartialStateTestCase

ROOMS = "/_synapse/admin/v1/msc_extensions/partial_state_rooms"


class PartialStateAdminTestCase(PartialStateTestCase):
    module_settings = {"msc3902": {"resync_interval": "1m"}}

    def admin(self, method: str, path: str, content: Any = None) -> tuple[int, Any]:
        return self.request_json(method, path, content, access_token=self.admin_token)

    def delete(self, room_id: str, content: Any = None) -> tuple[int, Any]:
        """DELETE waits up to 10 s for the leave to reach the room's servers, which
        never answer in the harness: move the clock on while it waits."""
        channel = self.make_request(
            "DELETE",
            f"{ROOMS}/{room_id}",
            content=content if content is not None else b"",
            access_token=self.admin_token,
            await_result=False,
        )
        self.advance_ms(12_000, step_ms=100)
        self.assertTrue(channel.is_finished())
        return channel.code, channel.json_body

    def test_list_shows_each_partial_state_room(self) -> None:
        code, body = self.admin("GET", ROOMS)
        self.assertEqual((code, body), (200, {"rooms": [], "total": 0}))

        self.join_partial()
        code, body = self.admin("GET", ROOMS)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["total"], 1)
        (room,) = body["rooms"]
        self.assertEqual(room["room_id"], self.room_id)
        self.assertEqual(room["joined_via"], self.OTHER_SERVER_NAME)
        self.assertEqual(room["join_time"], self.alice_join.origin_server_ts)
        self.assertEqual(room["attempts"], 1)
        self.assertIn("502", room["last_error"])
        self.assertFalse(room["resync_running"])
        now = self.clock.time_msec()
        self.assertGreater(room["next_attempt_time"], now)
        self.assertLessEqual(room["next_attempt_time"], now + 60_000)

    def test_list_shows_a_running_resync(self) -> None:
        from twisted.internet.defer import Deferred

        self.hold_state_requests = Deferred()
        self.join_partial()
        _, body = self.admin("GET", ROOMS)
        (room,) = body["rooms"]
        self.assertTrue(room["resync_running"])
        self.assertIsNone(room["next_attempt_time"])
        self.hold_state_requests.callback(None)

    def test_list_and_resync_need_a_server_admin(self) -> None:
        self.join_partial()
        for method, path in (
            ("GET", ROOMS),
            ("POST", f"{ROOMS}/{self.room_id}/resync"),
            ("DELETE", f"{ROOMS}/{self.room_id}"),
        ):
            code, body = self.request_json(method, path, access_token=self.alice_token)
            self.assertEqual(code, 403, (method, body))
            code, body = self.request_json(method, path)
            self.assertEqual(code, 401, (method, body))
        self.assertTrue(self.is_partial())

    def test_post_resync_starts_one_now(self) -> None:
        self.join_partial()
        self.remote_up = True
        code, body = self.admin("POST", f"{ROOMS}/{self.room_id}/resync")
        self.assertEqual(code, 200, body)
        self.assertTrue(body["started"])
        self.reactor.advance(0.5)
        self.assertFalse(self.is_partial())
        self.assertEqual(self.joined_members(), {*self.members, self.alice_id})
        code, body = self.admin("GET", ROOMS)
        self.assertEqual(body["total"], 0)

    def test_post_resync_while_one_runs_is_409_with_its_own_errcode(self) -> None:
        from twisted.internet.defer import Deferred

        self.hold_state_requests = Deferred()
        self.join_partial()
        code, body = self.admin("POST", f"{ROOMS}/{self.room_id}/resync")
        self.assertEqual(code, 409, body)
        self.assertEqual(body["errcode"], "ORG.MATRIX.MSC3902_RESYNC_IN_PROGRESS")
        self.assertIn("running already", body["error"])
        # Nothing was started beside the running resync: it is the only one.
        (room,) = self.admin("GET", ROOMS)[1]["rooms"]
        self.assertEqual(room["attempts"], 1)
        self.remote_up = True
        self.hold_state_requests.callback(None)

    def test_post_resync_reports_an_unreachable_room(self) -> None:
        self.join_partial()
        self.put_in_retry_backoff(self.OTHER_SERVER_NAME, 10 * 60_000)
        code, body = self.admin("POST", f"{ROOMS}/{self.room_id}/resync")
        self.assertEqual(code, 503, body)
        self.assertIn(self.OTHER_SERVER_NAME, body["error"])
        self.assertTrue(self.is_partial())

    def test_post_resync_on_a_room_that_is_not_partial_is_404(self) -> None:
        code, body = self.admin("POST", f"{ROOMS}/!nope:test/resync")
        self.assertEqual(code, 404, body)
        self.assertEqual(body["errcode"], "M_NOT_FOUND")

    def test_delete_aborts_local_users_leave_and_the_room_is_purged(self) -> None:
        self.join_partial()
        code, body = self.delete(self.room_id)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["local_users_left"], [self.alice_id])
        # The harness's remote never answers: the leave could not be delivered,
        # and the answer says so.
        self.assertEqual(body["leave_not_delivered_to"], [self.OTHER_SERVER_NAME])
        self.assertFalse(self.is_partial())
        self.assertIsNone(self.get_success(self.store.get_room(self.room_id)))
        code, body = self.request_json(
            "GET", "/_matrix/client/v3/joined_rooms", access_token=self.alice_token
        )
        self.assertEqual(body["joined_rooms"], [])
        # And the loop does not resurrect it.
        self.remote_up = True
        requests = len(self.state_requests)
        self.advance_ms(5 * 60_000)
        self.assertEqual(len(self.state_requests), requests)

    def test_delete_stops_a_running_resync(self) -> None:
        from twisted.internet.defer import Deferred

        self.hold_state_requests = Deferred()
        self.join_partial()
        code, body = self.delete(self.room_id)
        self.assertEqual(code, 200, body)
        self.assertTrue(body["resync_cancelled"])
        self.assertFalse(self.is_partial())
        # Synapse's bookkeeping of running resyncs is clean: a new join of the
        # same room would resync again.
        self.assertFalse(
            self.room_id in self.hs.get_federation_handler()._active_partial_state_syncs
        )
        code, body = self.admin("GET", ROOMS)
        self.assertEqual(body["total"], 0)

    def test_delete_refuses_to_lose_a_local_alias_unless_asked(self) -> None:
        self.join_partial()
        alias = "#partial:test"
        code, body = self.request_json(
            "PUT",
            f"/_matrix/client/v3/directory/room/{alias}",
            {"room_id": self.room_id},
            access_token=self.alice_token,
        )
        self.assertEqual(code, 200, body)

        code, body = self.delete(self.room_id)
        self.assertEqual(code, 409, body)
        self.assertEqual(body["errcode"], "ORG.MATRIX.MSC3902_ABORT_WOULD_LOSE")
        self.assertEqual(body["would_lose"], {"local_aliases": [alias]})
        self.assertIn("local_aliases", body["error"])
        self.assertTrue(self.is_partial())
        code, body = self.request_json(
            "GET", "/_matrix/client/v3/joined_rooms", access_token=self.alice_token
        )
        self.assertEqual(body["joined_rooms"], [self.room_id])

        code, body = self.delete(self.room_id, {"lose": ["local_aliases"]})
        self.assertEqual(code, 200, body)
        self.assertFalse(self.is_partial())

    def test_delete_with_a_bad_lose_list_is_400_and_changes_nothing(self) -> None:
        self.join_partial()
        for lose in ("everything", ["local_aliases", "locals_power"], [1]):
            code, body = self.admin("DELETE", f"{ROOMS}/{self.room_id}", {"lose": lose})
            self.assertEqual(code, 400, body)
            self.assertEqual(body["errcode"], "M_INVALID_PARAM")
            self.assertIn("local_aliases, local_power", body["error"])
        self.assertTrue(self.is_partial())
        code, body = self.request_json(
            "GET", "/_matrix/client/v3/joined_rooms", access_token=self.alice_token
        )
        self.assertEqual(body["joined_rooms"], [self.room_id])

    def test_delete_on_a_room_that_is_not_partial_is_404(self) -> None:
        room_id = self.helper.create_room_as(self.alice_id, tok=self.alice_token)
        code, body = self.admin("DELETE", f"{ROOMS}/{room_id}")
        self.assertEqual(code, 404, body)
        self.assertIsNotNone(self.get_success(self.store.get_room(room_id)))
