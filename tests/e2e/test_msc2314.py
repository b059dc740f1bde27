"""MSC2314 between real federating homeservers: B, whose user is in A's room, gets
A's current state without an event ID, the same PDUs as Synapse's own ``/state``
serves, also when A reads them from its database after a restart; C, with nobody in
the room, is refused."""

import json
from typing import Any
from urllib.parse import quote

from tests.e2e.homeserver import E2ETestCase, start_homeserver, start_pair
from tests.e2e.rooms import create_room, join_over_federation, room_version

UNSTABLE = "/_matrix/federation/unstable/org.matrix.msc2314"


def as_set(pdus: list[Any]) -> set[str]:
    return {json.dumps(pdu, sort_keys=True) for pdu in pdus}


class CurrentStateE2ETests(E2ETestCase):
    async def test_a_server_in_the_room_gets_the_current_state(self) -> None:
        pair = await start_pair(self)
        c = await start_homeserver(self, load_module=False)
        a, b = pair.a, pair.b
        alice = await a.register_user(self.client, "alice")
        bob = await b.register_user(self.client, "bob")
        room_id = await create_room(self.client, a, alice.access_token)
        version = await room_version(self.client, a, room_id, alice.access_token)
        await join_over_federation(self.client, b, a, room_id, bob.access_token)

        for path in (
            f"/_matrix/federation/v1/state/{quote(room_id)}",
            f"{UNSTABLE}/state/{quote(room_id)}",
        ):
            status, body = await b.federation_request(self.client, a, "GET", path)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["room_version"], version)
            members = {
                p["state_key"]: p["content"]["membership"]
                for p in body["pdus"]
                if p["type"] == "m.room.member"
            }
            self.assertEqual(members, {alice.user_id: "join", bob.user_id: "join"})

        status, ids = await b.federation_request(
            self.client, a, "GET", f"/_matrix/federation/v1/state_ids/{quote(room_id)}"
        )
        self.assertEqual(status, 200, ids)
        self.assertEqual(len(ids["pdu_ids"]), len(body["pdus"]))

        for endpoint in ("state", "state_ids"):
            status, refused = await c.federation_request(
                self.client,
                a,
                "GET",
                f"/_matrix/federation/v1/{endpoint}/{quote(room_id)}",
            )
            self.assertEqual(status, 403, refused)
            self.assertEqual(refused["errcode"], "M_FORBIDDEN")
        # Read again after a restart, with A's event cache empty: the events are
        # made from their rows, and are the very PDUs Synapse's own /state serves.
        status, sent = await self.client.put_json(
            a.client_url
            + f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/t1",
            {"msgtype": "m.text", "body": "latest"},
            access_token=alice.access_token,
        )
        self.assertEqual(status, 200, sent)
        await a.restart()
        status, ours = await b.federation_request(
            self.client, a, "GET", f"/_matrix/federation/v1/state/{quote(room_id)}"
        )
        self.assertEqual(status, 200, ours)
        status, synapse_own = await b.federation_request(
            self.client,
            a,
            "GET",
            f"/_matrix/federation/v1/state/{quote(room_id)}"
            f"?event_id={quote(sent['event_id'])}",
        )
        self.assertEqual(status, 200, synapse_own)
        for field in ("pdus", "auth_chain"):
            self.assertEqual(as_set(ours[field]), as_set(synapse_own[field]))

        # Without the module, C answers as stock Synapse does.
        status, stock = await b.federation_request(
            self.client, c, "GET", f"/_matrix/federation/v1/state/{quote(room_id)}"
        )
        self.assertEqual(status, 400, stock)
        self.assertEqual(stock["errcode"], "M_MISSING_PARAM")
