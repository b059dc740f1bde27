"""MSC4046 make_pdu / send_pdu on real homeserver processes: on the user's own
server, and through a resident server for a room the user's server is not in."""

import json
from typing import Any
from urllib.parse import quote, urlencode

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.types import JsonDict

from tests.e2e.config import LOOPBACK, free_port
from tests.e2e.homeserver import E2ETestCase, Homeserver, HomeserverPair, shared_pair
from tests.e2e.process import pause

CLIENT = "/_matrix/client/unstable/org.matrix.msc4046"
FEDERATION = "/_matrix/federation/unstable/org.matrix.msc4046"


async def _pair() -> HomeserverPair:
    return await shared_pair("msc4046")


class Msc4046E2ETests(E2ETestCase):
    async def create_room(
        self, hs: Homeserver, token: str, preset: str = "private_chat"
    ) -> str:
        status, body = await self.client.post_json(
            hs.client_url + "/_matrix/client/v3/createRoom",
            {"preset": preset},
            access_token=token,
        )
        self.assertEqual(status, 200, body)
        room_id: str = body["room_id"]
        return room_id

    async def make_pdu(
        self, hs: Homeserver, room_id: str, event_type: str, token: str, **params: Any
    ) -> tuple[int, Any]:
        query = urlencode(params, doseq=True)
        return await self.client.get_json(
            hs.client_url
            + f"{CLIENT}/room/{quote(room_id)}/make_pdu/{quote(event_type)}"
            + (f"?{query}" if query else ""),
            access_token=token,
        )

    async def send_pdu(
        self,
        hs: Homeserver,
        room_id: str,
        txn: str,
        pdu: JsonDict,
        token: str,
        **params: Any,
    ) -> tuple[int, Any]:
        query = urlencode(params, doseq=True)
        return await self.client.put_json(
            hs.client_url
            + f"{CLIENT}/room/{quote(room_id)}/send_pdu/{quote(txn)}"
            + (f"?{query}" if query else ""),
            pdu,
            access_token=token,
        )

    async def sync(
        self, hs: Homeserver, token: str, since: str | None = None
    ) -> JsonDict:
        # A different filter each time: /sync answers are cached per request.
        self._syncs = getattr(self, "_syncs", 0) + 1
        limit = json.dumps(
            {
                "room": {
                    "include_leave": True,
                    "timeline": {"limit": 10 + self._syncs},
                }
            }
        )
        url = hs.client_url + f"/_matrix/client/v3/sync?timeout=0&filter={quote(limit)}"
        if since:
            url += f"&since={quote(since)}"
        status, body = await self.client.get_json(url, access_token=token)
        self.assertEqual(status, 200, body)
        return dict(body)

    async def test_make_fill_send_on_the_users_own_server(self) -> None:
        hs = (await _pair()).a
        owner = await hs.register_user(self.client, "pdu_owner")
        room_id = await self.create_room(hs, owner.access_token)
        first_sync = await self.sync(hs, owner.access_token)

        status, template = await self.make_pdu(
            hs, room_id, "m.room.message", owner.access_token
        )
        self.assertEqual(status, 200, template)
        self.assertNotIn("content", template["pdu"])
        pdu = {
            **template["pdu"],
            "content": {"msgtype": "m.text", "body": "built by the client"},
        }
        status, body = await self.send_pdu(hs, room_id, "t1", pdu, owner.access_token)
        self.assertEqual((status, body), (200, {}))

        status, messages = await self.client.get_json(
            hs.client_url
            + f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=5",
            access_token=owner.access_token,
        )
        self.assertEqual(status, 200, messages)
        bodies = [e["content"].get("body") for e in messages["chunk"]]
        self.assertEqual(bodies[0], "built by the client")

        sync = await self.sync(hs, owner.access_token, first_sync["next_batch"])
        timeline = sync["rooms"]["join"][room_id]["timeline"]["events"]
        self.assertIn(
            "built by the client", [e["content"].get("body") for e in timeline]
        )

    async def test_an_unreachable_resident_server_is_a_502_matrix_error(
        self,
    ) -> None:
        hs = (await _pair()).a
        user = await hs.register_user(self.client, "pdu_unreachable")
        nobody = f"{LOOPBACK}:{free_port()}"  # nothing listens there
        status, body = await self.make_pdu(
            hs,
            f"!elsewhere:{nobody}",
            "m.room.message",
            user.access_token,
            server_name=nobody,
        )
        self.assertEqual(status, 502, body)
        self.assertIn("errcode", body)
        self.assertIn("error", body)

    async def test_remote_user_rejects_an_invite_through_the_inviting_server(
        self,
    ) -> None:
        pair = await _pair()
        alice = await pair.a.register_user(self.client, "reject_alice")
        bob = await pair.b.register_user(self.client, "reject_bob")
        room_id = await self.create_room(pair.a, alice.access_token)
        status, body = await self.client.post_json(
            pair.a.client_url + f"/_matrix/client/v3/rooms/{quote(room_id)}/invite",
            {"user_id": bob.user_id},
            access_token=alice.access_token,
        )
        self.assertEqual(status, 200, body)
        invites: JsonDict = {}
        for _ in range(50):
            sync = await self.sync(pair.b, bob.access_token)
            invites = sync.get("rooms", {}).get("invite", {})
            if room_id in invites:
                break
            await pause()
        self.assertIn(room_id, invites)
        before_rejection = sync["next_batch"]

        # B is not in the room: the template comes from A.
        status, template = await self.make_pdu(
            pair.b,
            room_id,
            "m.room.member",
            bob.access_token,
            membership="leave",
            server_name=pair.a.server_name,
        )
        self.assertEqual(status, 200, template)
        self.assertEqual(template["pdu"]["state_key"], bob.user_id)
        pdu = {**template["pdu"], "content": {"membership": "leave"}}
        status, body = await self.send_pdu(
            pair.b,
            room_id,
            "reject",
            pdu,
            bob.access_token,
            server_name=pair.a.server_name,
        )
        self.assertEqual((status, body), (200, {}))

        # A shows the leave.
        status, member = await self.client.get_json(
            pair.a.client_url
            + f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/"
            + quote(bob.user_id),
            access_token=alice.access_token,
        )
        self.assertEqual((status, member), (200, {"membership": "leave"}))
        # B's user no longer has the invite; the leave is in the leave section.
        sync = await self.sync(pair.b, bob.access_token)
        self.assertNotIn(room_id, sync.get("rooms", {}).get("invite", {}))
        since = await self.sync(pair.b, bob.access_token, before_rejection)
        left = since.get("rooms", {}).get("leave", {})
        self.assertIn(room_id, left)
        (leave,) = left[room_id]["timeline"]["events"]
        self.assertEqual(
            (leave["type"], leave["state_key"], leave["content"]["membership"]),
            ("m.room.member", bob.user_id, "leave"),
        )

    async def test_a_joined_server_gets_unauthorized_from_federation_send_pdu(
        self,
    ) -> None:
        pair = await _pair()
        alice = await pair.a.register_user(self.client, "joined_alice")
        carol = await pair.b.register_user(self.client, "joined_carol")
        room_id = await self.create_room(pair.a, alice.access_token, "public_chat")
        status, body = await self.client.post_json(
            pair.b.client_url
            + f"/_matrix/client/v3/join/{quote(room_id)}?server_name="
            + quote(pair.a.server_name),
            {},
            access_token=carol.access_token,
        )
        self.assertEqual(status, 200, body)

        # A signed federation send_pdu from B, which could send the event itself.
        status, template = await pair.b.federation_request(
            self.client,
            pair.a,
            "GET",
            f"{FEDERATION}/make_pdu/{quote(room_id)}?"
            + urlencode(
                {
                    "event_type": "m.room.message",
                    "user_id": carol.user_id,
                    "ver": list(KNOWN_ROOM_VERSIONS),
                },
                doseq=True,
            ),
        )
        self.assertEqual(status, 200, template)
        pdu = {**template["pdu"], "content": {"msgtype": "m.text", "body": "x"}}
        status, body = await pair.b.federation_request(
            self.client, pair.a, "PUT", f"{FEDERATION}/send_pdu/{quote(room_id)}", pdu
        )
        self.assertEqual(status, 400, body)
        self.assertEqual(body["errcode"], "M_UNAUTHORIZED")
