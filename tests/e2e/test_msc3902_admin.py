"""The partial-state admin API and the MSC3895 federation answers on real homeserver
processes (B's real client and federation listeners)."""

import time
from typing import Any
from urllib.parse import quote

from tests.e2e.homeserver import E2ETestCase
from tests.e2e.partial_state_scenario import (
    ADMIN_ROOMS,
    MODULE_CONFIG,
    PartialStatePair,
    _query,
    b_admin_rooms,
    start_partial_state_pair,
    wait_for_failed_retries,
    wait_until,
)

UNSTABLE_ERRCODE = "ORG.MATRIX.MSC3895_UNABLE_DUE_TO_PARTIAL_STATE"
RESYNC_RUNNING = "ORG.MATRIX.MSC3902_RESYNC_IN_PROGRESS"


class PartialStateAdminE2ETests(E2ETestCase):
    async def admin(
        self, pair: PartialStatePair, method: str, path: str, token: str | None = None
    ) -> tuple[int, Any]:
        return await self.client.request_json(
            method,
            pair.b.client_url + ADMIN_ROOMS + path,
            access_token=token or pair.bob.access_token,
        )

    async def test_list_resync_abort_and_federation_answers(self) -> None:
        pair = await start_partial_state_pair(
            self, self.client, b_module_config=MODULE_CONFIG, members=5
        )
        a, b = pair.a, pair.b

        # GET: the room, how it was joined, its attempts and last error.
        (room,) = await b_admin_rooms(pair, self.client)
        self.assertEqual(room["room_id"], pair.room_id)
        self.assertEqual(room["joined_via"], a.server_name)
        self.assertGreaterEqual(room["attempts"], 1)
        self.assertIn("502", room["last_error"])
        self.assertIsInstance(room["join_time"], int)
        self.assertLess(abs(room["join_time"] - time.time() * 1000), 120_000)
        carol = await b.register_user(self.client, "carol")
        status, body = await self.admin(pair, "GET", "", carol.access_token)
        self.assertEqual(status, 403, body)

        # MSC3895 on B's real federation listener, asked by A (the join was sent
        # there): B's own join event is answered, the state is not.
        ((join_event_id,),) = _query(
            b,
            "SELECT join_event_id FROM partial_state_rooms WHERE room_id = ?",
            (pair.room_id,),
        )
        fed = "/_matrix/federation/v1"
        status, body = await a.federation_request(
            self.client, b, "GET", f"{fed}/event/{quote(join_event_id)}"
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body["pdus"][0]["sender"], pair.bob.user_id)
        status, body = await a.federation_request(
            self.client,
            b,
            "GET",
            f"{fed}/event_auth/{quote(pair.room_id)}/{quote(join_event_id)}",
        )
        self.assertEqual(status, 200, body)
        self.assertIn("m.room.create", {e["type"] for e in body["auth_chain"]})
        status, body = await a.federation_request(
            self.client,
            b,
            "GET",
            f"{fed}/state_ids/{quote(pair.room_id)}?event_id={quote(join_event_id)}",
        )
        self.assertEqual(status, 403, body)
        self.assertEqual(body["errcode"], UNSTABLE_ERRCODE)

        # DELETE: a second partial-state room that can never complete is aborted.
        status, body = await self.client.post_json(
            a.client_url + "/_matrix/client/v3/createRoom",
            {"preset": "public_chat"},
            access_token=pair.owner.access_token,
        )
        self.assertEqual(status, 200, body)
        doomed = body["room_id"]
        status, body = await self.client.post_json(
            b.client_url
            + f"/_matrix/client/v3/join/{quote(doomed)}?server_name={quote(a.server_name)}",
            {},
            access_token=pair.bob.access_token,
        )
        self.assertEqual(status, 200, body)
        await wait_until(
            lambda: doomed in pair.b_partial_state_rooms(), 30, "second partial room"
        )
        # A talks, so B lifts its retry back-off on A and can tell A of the leave.
        status, body = await self.client.put_json(
            a.client_url
            + f"/_matrix/client/v3/rooms/{quote(pair.room_id)}/send/m.room.message/t1",
            {"msgtype": "m.text", "body": "hello"},
            access_token=pair.owner.access_token,
        )
        self.assertEqual(status, 200, body)
        await wait_until(lambda: not pair.b_backs_off_from_a(), 30, "A is up again")
        status, body = await self.admin(pair, "DELETE", f"/{quote(doomed)}")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["local_users_left"], [pair.bob.user_id])
        self.assertEqual(
            set(body["leave_delivered_to"]) | set(body["leave_not_delivered_to"]),
            {a.server_name},
        )
        self.assertNotIn(doomed, pair.b_partial_state_rooms())
        self.assertEqual(
            _query(b, "SELECT 1 FROM rooms WHERE room_id = ?", (doomed,)), []
        )
        if body["leave_delivered_to"]:
            status, body = await self.client.get_json(
                a.client_url
                + f"/_matrix/client/v3/rooms/{quote(doomed)}/joined_members",
                access_token=pair.owner.access_token,
            )
            self.assertNotIn(pair.bob.user_id, body["joined"])

        # POST while A still refuses: an attempt is made, and fails.
        (room,) = await b_admin_rooms(pair, self.client)
        attempts = room["attempts"]
        status, body = await self.admin(pair, "POST", f"/{quote(pair.room_id)}/resync")
        self.assertIn(status, (200, 409), body)
        if status == 409:
            self.assertEqual(body["errcode"], RESYNC_RUNNING, body)
        room = await wait_for_failed_retries(pair, self.client, attempts + 1, 60)
        self.assertTrue(pair.b_is_partial())

        # POST once A serves state again: the room reaches full state.
        pair.proxy.blocked = False
        status, body = await self.admin(pair, "POST", f"/{quote(pair.room_id)}/resync")
        self.assertIn(status, (200, 409), body)
        if status == 409:
            self.assertEqual(body["errcode"], RESYNC_RUNNING, body)
        await wait_until(lambda: not pair.b_is_partial(), 60, "full state")
        self.assertEqual(await b_admin_rooms(pair, self.client), [])
        status, body = await self.admin(pair, "DELETE", f"/{quote(pair.room_id)}")
        self.assertEqual(status, 404, body)
