"""MSC3192 membership at batch speed between two real homeservers: one batch
invites 20 local and 20 remote users, kicks 5 and bans 5; and invites to a
server that is down give ``null`` while everyone else is invited."""

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from synapse.types import JsonDict
from twisted.internet import defer

from tests.e2e.config import free_port
from tests.e2e.homeserver import (
    E2ETestCase,
    Homeserver,
    RegisteredUser,
    shared_pair,
)
from tests.e2e.process import pause
from tests.e2e.rooms import joined_members

BATCH = "/_matrix/client/unstable/org.matrix.msc3192/rooms/{room}/batch_state/{txn}"


def with_leaves(poll: int) -> str:
    """The filter of an initial /sync that includes the rooms the user has
    left. Synapse keeps each /sync answer for a while, keyed by the request
    (filter included): each poll asks with a filter of its own."""
    return quote(
        json.dumps(
            {"room": {"include_leave": True}, "presence": {"not_types": [f"p{poll}"]}}
        )
    )


def member(user_id: str, membership: str) -> JsonDict:
    return {
        "event_type": "m.room.member",
        "state_key": user_id,
        "content": {"membership": membership},
    }


class RemoteInvitesE2ETests(E2ETestCase):
    async def register(
        self, hs: Homeserver, prefix: str, count: int
    ) -> list[RegisteredUser]:
        registered: list[RegisteredUser] = await defer.gatherResults(
            [
                defer.ensureDeferred(hs.register_user(self.client, f"{prefix}{i}"))
                for i in range(count)
            ]
        )
        return registered

    async def batch(
        self, hs: Homeserver, room_id: str, txn: str, items: Any, token: str
    ) -> tuple[int, Any]:
        url = hs.client_url + BATCH.format(room=quote(room_id), txn=txn)
        return await self.client.put_json(url, items, access_token=token)

    async def create_room(self, hs: Homeserver, owner: RegisteredUser) -> str:
        status, body = await self.client.post_json(
            hs.client_url + "/_matrix/client/v3/createRoom",
            {"preset": "private_chat"},
            access_token=owner.access_token,
        )
        self.assertEqual(status, 200, body)
        room_id: str = body["room_id"]
        return room_id

    async def wait_for_rooms(
        self,
        hs: Homeserver,
        users: Sequence[RegisteredUser],
        section: str,
        room_id: str,
    ) -> None:
        """Until every one of ``users`` sees ``room_id`` in ``section`` (invite,
        leave) of an initial /sync on its own server ``hs``."""
        waiting = list(users)
        for poll in range(200):
            still = []
            for user in waiting:
                status, body = await self.client.get_json(
                    hs.client_url
                    + f"/_matrix/client/v3/sync?filter={with_leaves(poll)}",
                    access_token=user.access_token,
                )
                self.assertEqual(status, 200, body)
                if room_id not in body.get("rooms", {}).get(section, {}):
                    still.append(user)
            waiting = still
            if not waiting:
                return
            await pause()
        self.fail(f"{[u.user_id for u in waiting]} never saw {room_id} in {section}")

    async def wait_for_joined(
        self,
        hs: Homeserver,
        room_id: str,
        viewer: RegisteredUser,
        users: Sequence[RegisteredUser],
    ) -> None:
        """Until ``hs`` lists every one of ``users`` as joined to ``room_id``."""
        wanted = {user.user_id for user in users}
        for _ in range(400):
            joined = await joined_members(self.client, hs, room_id, viewer.access_token)
            if wanted <= joined:
                return
            await pause()
        self.fail(
            f"{sorted(wanted - joined)} never joined {room_id} on {hs.server_name}"
        )

    async def test_invite_20_local_and_20_remote_kick_5_and_ban_5(self) -> None:
        pair = await shared_pair("msc3192")
        a, b = pair.a, pair.b
        (owner,) = await self.register(a, "ri_owner", 1)
        local_guests = await self.register(a, "ri_local", 20)
        remote_guests = await self.register(b, "ri_remote", 20)
        # Members to kick and ban, on both servers.
        members_a = await self.register(a, "ri_member_a", 4)
        members_b = await self.register(b, "ri_member_b", 6)
        room_id = await self.create_room(a, owner)

        members = [*members_a, *members_b]
        status, ids = await self.batch(
            a,
            room_id,
            "members",
            [member(user.user_id, "invite") for user in members],
            owner.access_token,
        )
        self.assertEqual(status, 200, ids)
        self.assertTrue(all(ids), ids)
        for hs, user in [*((a, u) for u in members_a), *((b, u) for u in members_b)]:
            status, body = await self.client.post_json(
                hs.client_url + f"/_matrix/client/v3/join/{quote(room_id)}",
                {},
                access_token=user.access_token,
            )
            self.assertEqual(status, 200, body)
        # B's joins reach A in the background: the batch acts on A's view of the
        # room, so wait until A has them all (a batch sent earlier is built on the
        # room as A knew it, beside the joins still on their way, as a single
        # /ban would be).
        await self.wait_for_joined(a, room_id, owner, members)

        kicked = [*members_a[:2], *members_b[:3]]
        banned = [*members_a[2:], *members_b[3:]]
        items = [
            *(member(user.user_id, "invite") for user in local_guests),
            *(member(user.user_id, "invite") for user in remote_guests),
            *(member(user.user_id, "leave") for user in kicked),
            *(member(user.user_id, "ban") for user in banned),
        ]
        self.assertEqual(len(items), 50)
        status, ids = await self.batch(a, room_id, "big", items, owner.access_token)
        self.assertEqual(status, 200, ids)
        self.assertTrue(all(ids), ids)

        # Every invitee sees the invite on its own server; the servers of the
        # kicked and banned users see them leave.
        await self.wait_for_rooms(a, local_guests, "invite", room_id)
        await self.wait_for_rooms(b, remote_guests, "invite", room_id)
        await self.wait_for_rooms(a, [*kicked[:2], *banned[:2]], "leave", room_id)
        await self.wait_for_rooms(b, [*kicked[2:], *banned[2:]], "leave", room_id)

    async def test_invitees_of_a_server_that_is_down_get_null(self) -> None:
        pair = await shared_pair("msc3192")
        a, b = pair.a, pair.b
        down = f"127.0.0.1:{free_port()}"
        (owner,) = await self.register(a, "ri_down_owner", 1)
        local_guests = await self.register(a, "ri_down_local", 2)
        remote_guests = await self.register(b, "ri_down_remote", 3)
        room_id = await self.create_room(a, owner)
        items = [
            member(remote_guests[0].user_id, "invite"),
            member(f"@lost0:{down}", "invite"),
            member(local_guests[0].user_id, "invite"),
            member(remote_guests[1].user_id, "invite"),
            member(f"@lost1:{down}", "invite"),
            member(local_guests[1].user_id, "invite"),
            member(remote_guests[2].user_id, "invite"),
        ]
        status, ids = await self.batch(a, room_id, "down", items, owner.access_token)
        self.assertEqual(status, 200, ids)
        self.assertEqual(
            [i is None for i in ids], [False, True, False, False, True, False, False]
        )
        await self.wait_for_rooms(a, local_guests, "invite", room_id)
        await self.wait_for_rooms(b, remote_guests, "invite", room_id)
        for n in range(2):
            status, body = await self.client.get_json(
                a.client_url
                + f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/"
                + quote(f"@lost{n}:{down}"),
                access_token=owner.access_token,
            )
            self.assertEqual(status, 404, body)
