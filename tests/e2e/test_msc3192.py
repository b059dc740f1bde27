"""MSC3192 batch state on real homeserver processes: the endpoint is served by a
real listener, and remote invites in a batch reach another real homeserver."""

import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
    homeserver_of,
)
from msc_extensions.feature import Feature
from msc_extensions.routing import FeatureRouter
from tests.e2e.homeserver import (
    E2ETestCase,
    Homeserver,
    HomeserverPair,
    shared_pair,
    start_homeserver,
)
from tests.e2e.process import pause

BATCH = "/_matrix/client/unstable/org.matrix.msc3192/rooms/{room}/batch_state/{txn}"


class _RefuseState(FederationServlet):
    """Replaces Synapse's ``GET /state_ids/{roomId}`` (and ``/state``, below)."""

    PREFIX = "/_matrix/federation/v1"
    PATH = "/state_ids/(?P<room_id>[^/]*)/?"

    async def on_GET(
        self,
        origin: str,
        content: Any,
        query: Mapping[bytes, list[bytes]],
        room_id: str,
    ) -> tuple[int, JsonDict]:
        return 503, {"errcode": "M_UNKNOWN", "error": "state is not served here"}


class _RefuseFullState(_RefuseState):
    PATH = "/state/(?P<room_id>[^/]*)/?"


class _RefuseStateFeature(Feature):
    name = "refuse_state"

    def __init__(self, api: ModuleApi) -> None:
        self._api = api

    def federation_servlets(
        self, authenticator: FederationAuthenticator, ratelimiter: FederationRateLimiter
    ) -> Iterable[FederationServlet]:
        hs = homeserver_of(self._api)
        return [
            servlet(hs, authenticator, ratelimiter, hs.hostname)
            for servlet in (_RefuseState, _RefuseFullState)
        ]


class RefuseStateModule:
    """Test-only: a homeserver that serves no room state over federation, so that
    a server joining its rooms stays in partial state."""

    def __init__(self, config: Mapping[str, Any], api: ModuleApi) -> None:
        FeatureRouter(homeserver_of(api), [_RefuseStateFeature(api)]).install()

    @staticmethod
    def parse_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
        return config


REFUSE_STATE = {"module": f"{__name__}.RefuseStateModule", "config": {}}


async def _pair() -> HomeserverPair:
    return await shared_pair("msc3192")


class _BatchStateClient(E2ETestCase):
    """Helpers of the tests below (no tests of its own)."""

    async def create_room(self, hs: Homeserver, token: str) -> str:
        status, body = await self.client.post_json(
            hs.client_url + "/_matrix/client/v3/createRoom",
            {"preset": "private_chat"},
            access_token=token,
        )
        self.assertEqual(status, 200, body)
        room_id: str = body["room_id"]
        return room_id

    async def batch(
        self, hs: Homeserver, room_id: str, txn: str, body: Any, token: str
    ) -> tuple[int, Any]:
        url = hs.client_url + BATCH.format(room=quote(room_id), txn=quote(txn))
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, answer = await self.client.request(
            "PUT", url, body=raw, access_token=token
        )
        return status, answer

    async def state(
        self, hs: Homeserver, room_id: str, event_type: str, key: str, token: str
    ) -> tuple[int, Any]:
        return await self.client.get_json(
            hs.client_url
            + f"/_matrix/client/v3/rooms/{quote(room_id)}/state/"
            + f"{quote(event_type)}/{quote(key)}",
            access_token=token,
        )


class BatchStateE2ETests(_BatchStateClient):
    async def test_fifty_items_replay_null_and_forbidden(self) -> None:
        hs = (await _pair()).a
        owner = await hs.register_user(self.client, "e2e_owner")
        room_id = await self.create_room(hs, owner.access_token)
        items: list[JsonDict] = [
            {"event_type": "org.example.e2e", "state_key": f"k{i}", "content": {"i": i}}
            for i in range(50)
        ]
        status, ids = await self.batch(hs, room_id, "t1", items, owner.access_token)
        self.assertEqual(status, 200, ids)
        self.assertEqual(len(ids), 50)
        self.assertEqual(len(set(ids)), 50)
        for i in (0, 25, 49):
            status, content = await self.state(
                hs, room_id, "org.example.e2e", f"k{i}", owner.access_token
            )
            self.assertEqual((status, content), (200, {"i": i}))

        # A replay answers the same and writes nothing, even with another body.
        changed = [{**item, "content": {"i": -1}} for item in items]
        status, replay = await self.batch(
            hs, room_id, "t1", changed, owner.access_token
        )
        self.assertEqual((status, replay), (200, ids))
        status, content = await self.state(
            hs, room_id, "org.example.e2e", "k0", owner.access_token
        )
        self.assertEqual(content, {"i": 0})

        # One item that cannot be an event (power levels must be integers): null,
        # and the rest still go ahead.
        too_high = {"users": {owner.user_id: "lots"}}
        status, ids = await self.batch(
            hs,
            room_id,
            "t2",
            [
                {"event_type": "m.room.power_levels", "content": too_high},
                {"event_type": "m.room.topic", "content": {"topic": "still"}},
            ],
            owner.access_token,
        )
        self.assertEqual(status, 200, ids)
        self.assertIsNone(ids[0])
        self.assertIsNotNone(ids[1])

        # Someone not in the room may send none of them.
        stranger = await hs.register_user(self.client, "e2e_stranger")
        status, body = await self.batch(
            hs, room_id, "t3", items[:2], stranger.access_token
        )
        self.assertEqual(status, 403, body)
        self.assertEqual(body["errcode"], "M_FORBIDDEN")

    async def test_bad_inputs_are_400_and_write_nothing(self) -> None:
        hs = (await _pair()).a
        owner = await hs.register_user(self.client, "e2e_bad")
        room_id = await self.create_room(hs, owner.access_token)
        good = {"event_type": "org.example.bad", "content": {"n": 1}}
        cases: list[tuple[Any, str]] = [
            ({"event_type": "x"}, "M_BAD_JSON"),
            ([], "M_INVALID_PARAM"),
            ([good] * 2, "M_INVALID_PARAM"),
            ([good, {"event_type": "a.b"}], "M_MISSING_PARAM"),
            ([good, {"event_type": "a.b", "content": 1}], "M_INVALID_PARAM"),
            (
                [
                    {"event_type": "a.b", "state_key": str(i), "content": {}}
                    for i in range(51)
                ],
                "M_INVALID_PARAM",
            ),
            (b"[{", "M_NOT_JSON"),
            # A lone surrogate and an out-of-range number: stock /send 500s.
            (b'[{"event_type": "a\\ud800", "content": {}}]', "M_BAD_JSON"),
            (b'[{"event_type": "a.b", "content": {"n": [1e400]}}]', "M_NOT_JSON"),
        ]
        for n, (body, errcode) in enumerate(cases):
            status, answer = await self.batch(
                hs, room_id, f"bad{n}", body, owner.access_token
            )
            self.assertEqual((status, answer["errcode"]), (400, errcode), answer)
        status, _ = await self.state(
            hs, room_id, "org.example.bad", "", owner.access_token
        )
        self.assertEqual(status, 404)

    async def test_remote_invites_reach_the_other_homeserver(self) -> None:
        pair = await _pair()
        owner = await pair.a.register_user(self.client, "e2e_inviter")
        local = await pair.a.register_user(self.client, "e2e_local_guest")
        remote = await pair.b.register_user(self.client, "e2e_remote_guest")
        avatar = "mxc://b.example/e2e_remote_guest"
        status, body = await self.client.put_json(
            pair.b.client_url
            + f"/_matrix/client/v3/profile/{quote(remote.user_id)}/avatar_url",
            {"avatar_url": avatar},
            access_token=remote.access_token,
        )
        self.assertEqual(status, 200, body)
        room_id = await self.create_room(pair.a, owner.access_token)

        status, ids = await self.batch(
            pair.a,
            room_id,
            "invite",
            [
                {
                    "event_type": "m.room.member",
                    "state_key": remote.user_id,
                    "content": {"membership": "invite"},
                },
                {
                    "event_type": "m.room.member",
                    "state_key": local.user_id,
                    "content": {"membership": "invite"},
                },
            ],
            owner.access_token,
        )
        self.assertEqual(status, 200, ids)
        self.assertTrue(all(ids), ids)
        # The invite carries the profile the remote user's server gave.
        status, member = await self.state(
            pair.a, room_id, "m.room.member", remote.user_id, owner.access_token
        )
        self.assertEqual(status, 200, member)
        self.assertEqual(
            member,
            {
                "membership": "invite",
                "displayname": "e2e_remote_guest",
                "avatar_url": avatar,
            },
        )

        # The remote user's server holds the invite, and can accept it.
        invited: JsonDict = {}
        for _ in range(50):
            status, sync = await self.client.get_json(
                pair.b.client_url + "/_matrix/client/v3/sync?timeout=0",
                access_token=remote.access_token,
            )
            self.assertEqual(status, 200, sync)
            invited = sync.get("rooms", {}).get("invite", {})
            if room_id in invited:
                break
            await pause()
        self.assertIn(room_id, invited)
        status, body = await self.client.post_json(
            pair.b.client_url + f"/_matrix/client/v3/join/{quote(room_id)}",
            {},
            access_token=remote.access_token,
        )
        self.assertEqual(status, 200, body)
        status, member = await self.state(
            pair.a, room_id, "m.room.member", remote.user_id, owner.access_token
        )
        for _ in range(50):
            if member.get("membership") == "join":
                break
            await pause()
            status, member = await self.state(
                pair.a, room_id, "m.room.member", remote.user_id, owner.access_token
            )
        self.assertEqual(member.get("membership"), "join", member)

        # A batch sent on A reaches B over federation, and B accepts its events.
        items = [
            {"event_type": "org.example.fed", "state_key": f"k{i}", "content": {"i": i}}
            for i in range(50)
        ]
        status, ids = await self.batch(
            pair.a, room_id, "fed", items, owner.access_token
        )
        self.assertEqual(status, 200, ids)
        content: Any = None
        for _ in range(100):
            status, content = await self.state(
                pair.b, room_id, "org.example.fed", "k49", remote.access_token
            )
            if status == 200:
                break
            await pause()
        self.assertEqual(content, {"i": 49})
        status, content = await self.state(
            pair.b, room_id, "org.example.fed", "k0", remote.access_token
        )
        self.assertEqual((status, content), (200, {"i": 0}))


class BatchStateMembershipE2ETests(_BatchStateClient):
    async def sync(self, hs: Homeserver, token: str, since: str | None) -> JsonDict:
        query = "?timeout=0" + (f"&since={quote(since)}" if since else "")
        status, body = await self.client.get_json(
            hs.client_url + "/_matrix/client/v3/sync" + query, access_token=token
        )
        self.assertEqual(status, 200, body)
        answer: JsonDict = body
        return answer

    async def test_invites_kicks_and_bans_in_one_batch(self) -> None:
        pair = await _pair()
        owner = await pair.a.register_user(self.client, "e2e_member_owner")
        watcher = await pair.b.register_user(self.client, "e2e_member_watcher")
        members = [
            await pair.a.register_user(self.client, f"e2e_member_{i}") for i in range(4)
        ]
        invitees = [
            await pair.a.register_user(self.client, f"e2e_invitee_{i}")
            for i in range(3)
        ]
        room_id = await self.create_room(pair.a, owner.access_token)
        join_url = f"/_matrix/client/v3/join/{quote(room_id)}"
        # The watcher on the other server is in the room, to see the batch arrive.
        status, ids = await self.batch(
            pair.a,
            room_id,
            "watcher",
            [
                {
                    "event_type": "m.room.member",
                    "state_key": user.user_id,
                    "content": {"membership": "invite"},
                }
                for user in [watcher, *members]
            ],
            owner.access_token,
        )
        self.assertEqual(status, 200, ids)
        for user in members:
            status, body = await self.client.post_json(
                pair.a.client_url + join_url, {}, access_token=user.access_token
            )
            self.assertEqual(status, 200, body)
        status, body = await self.client.post_json(
            pair.b.client_url + join_url, {}, access_token=watcher.access_token
        )
        self.assertEqual(status, 200, body)
        since = {
            user.user_id: (await self.sync(pair.a, user.access_token, None))[
                "next_batch"
            ]
            for user in [*members, *invitees]
        }

        kicked, banned, stays, invited_twice = members
        items = [
            *(
                {
                    "event_type": "m.room.member",
                    "state_key": user.user_id,
                    "content": {"membership": "invite"},
                }
                for user in invitees
            ),
            # Already joined: refused, as PUT /state refuses it.
            {
                "event_type": "m.room.member",
                "state_key": invited_twice.user_id,
                "content": {"membership": "invite"},
            },
            {
                "event_type": "m.room.member",
                "state_key": kicked.user_id,
                "content": {"membership": "leave", "reason": "bye"},
            },
            {
                "event_type": "m.room.member",
                "state_key": banned.user_id,
                "content": {"membership": "ban", "reason": "spam"},
            },
        ]
        status, ids = await self.batch(
            pair.a, room_id, "members", items, owner.access_token
        )
        self.assertEqual(status, 200, ids)
        self.assertIsNone(ids[3], ids)
        self.assertTrue(all(ids[:3]) and all(ids[4:]), ids)

        for user in invitees:
            sync = await self.sync(pair.a, user.access_token, since[user.user_id])
            self.assertIn(room_id, sync["rooms"].get("invite", {}), user.user_id)
        for user in (kicked, banned):
            sync = await self.sync(pair.a, user.access_token, since[user.user_id])
            self.assertIn(room_id, sync["rooms"].get("leave", {}), user.user_id)
        sync = await self.sync(pair.a, stays.access_token, since[stays.user_id])
        self.assertNotIn(room_id, sync["rooms"].get("leave", {}))

        # The other server in the room receives every event of the batch.
        expected = {
            **{user.user_id: "invite" for user in invitees},
            kicked.user_id: "leave",
            banned.user_id: "ban",
            invited_twice.user_id: "join",
        }
        seen: dict[str, Any] = {}
        for _ in range(100):
            for user_id in expected:
                status, member = await self.state(
                    pair.b, room_id, "m.room.member", user_id, watcher.access_token
                )
                seen[user_id] = member.get("membership") if status == 200 else None
            if seen == expected:
                break
            await pause()
        self.assertEqual(seen, expected)


class BatchStateOnWorkerTests(E2ETestCase):
    """On PostgreSQL, through a generic worker (an event creator) whose events the
    main process persists. Skipped without PostgreSQL or Redis, saying which."""

    async def test_batch_on_an_event_creating_worker(self) -> None:
        from tests.e2e.postgres import postgres_cluster
        from tests.e2e.redis_server import redis_server
        from tests.e2e.workers import main_process_options, start_worker

        cluster = postgres_cluster()
        redis = await redis_server()
        main = await start_homeserver(
            self,
            database=cluster.new_database(),
            **main_process_options(redis.port),
        )
        worker = await start_worker(self, main)
        owner = await main.register_user(self.client, "worker_owner")
        status, body = await self.client.post_json(
            worker.client_url + "/_matrix/client/v3/createRoom",
            {"preset": "private_chat"},
            access_token=owner.access_token,
        )
        self.assertEqual(status, 200, body)
        room_id = body["room_id"]
        items: list[JsonDict] = [
            {"event_type": "org.example.w", "state_key": f"k{i}", "content": {"i": i}}
            for i in range(50)
        ]
        items.append(
            {
                "event_type": "m.room.member",
                "state_key": f"@spammer:{main.server_name}",
                "content": {"membership": "ban"},
            }
        )
        url = worker.client_url + BATCH.format(room=quote(room_id), txn="w1")
        status, ids = await self.client.put_json(
            url, items[:50], access_token=owner.access_token
        )
        self.assertEqual(status, 200, ids)
        self.assertTrue(all(ids), ids)
        status, replay = await self.client.put_json(
            url, items[:50], access_token=owner.access_token
        )
        self.assertEqual((status, replay), (200, ids))
        # The same transaction on the main process: the worker's answer, from the
        # database, and nothing sent again.
        main_url = main.client_url + BATCH.format(room=quote(room_id), txn="w1")
        status, replay = await self.client.put_json(
            main_url, items[:50], access_token=owner.access_token
        )
        self.assertEqual((status, replay), (200, ids))
        # Membership items on the worker's batch path: a ban, an invite, a kick,
        # and an invite of a user of another server, which the worker has signed
        # and the main process persists without asking that server again.
        member = await main.register_user(self.client, "worker_member")
        newcomer = await main.register_user(self.client, "worker_newcomer")
        elsewhere = (await _pair()).a
        guest = await elsewhere.register_user(self.client, "worker_remote_guest")
        for path, token in (
            (f"/rooms/{quote(room_id)}/invite", owner.access_token),
            (f"/join/{quote(room_id)}", member.access_token),
        ):
            status, body = await self.client.post_json(
                main.client_url + "/_matrix/client/v3" + path,
                {"user_id": member.user_id},
                access_token=token,
            )
            self.assertEqual(status, 200, body)
        members = [
            *items[50:],
            {
                "event_type": "m.room.member",
                "state_key": newcomer.user_id,
                "content": {"membership": "invite"},
            },
            {
                "event_type": "m.room.member",
                "state_key": member.user_id,
                "content": {"membership": "leave"},
            },
            {
                "event_type": "m.room.member",
                "state_key": guest.user_id,
                "content": {"membership": "invite"},
            },
        ]
        status, ban = await self.client.put_json(
            worker.client_url + BATCH.format(room=quote(room_id), txn="w2"),
            members,
            access_token=owner.access_token,
        )
        self.assertEqual(status, 200, ban)
        self.assertTrue(all(ban), ban)
        for user_id, membership in (
            (newcomer.user_id, "invite"),
            (member.user_id, "leave"),
            (guest.user_id, "invite"),
        ):
            status, content = await self.client.get_json(
                main.client_url
                + f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/"
                + quote(user_id),
                access_token=owner.access_token,
            )
            self.assertEqual(
                (status, content.get("membership")), (200, membership), content
            )
        # The worker staged the invite's notification with the batch's; the main
        # process moved it into the newcomer's notifications as it persisted.
        status, notifications = await self.client.get_json(
            main.client_url + "/_matrix/client/v3/notifications",
            access_token=newcomer.access_token,
        )
        self.assertEqual(status, 200, notifications)
        self.assertEqual(
            [
                (n["room_id"], n["event"]["content"]["membership"])
                for n in notifications["notifications"]
            ],
            [(room_id, "invite")],
            notifications,
        )

        status, sync = await self.client.get_json(
            elsewhere.client_url + "/_matrix/client/v3/sync",
            access_token=guest.access_token,
        )
        self.assertIn(room_id, sync["rooms"]["invite"], sync)
        room_localpart = room_id[1:].split(":")[0]
        asked = [
            line
            for line in (elsewhere.directory / "homeserver.log")
            .read_text()
            .splitlines()
            if "/_matrix/federation/v2/invite/" in line
            and room_localpart in line
            and "Processed request" in line
        ]
        self.assertEqual(len(asked), 1, asked)

        # The main process, which persisted them, serves them.
        for key, expected in (("k0", {"i": 0}), ("k49", {"i": 49})):
            status, content = await self.client.get_json(
                main.client_url
                + f"/_matrix/client/v3/rooms/{quote(room_id)}/state/org.example.w/{key}",
                access_token=owner.access_token,
            )
            self.assertEqual((status, content), (200, expected))
        status, member = await self.client.get_json(
            main.client_url
            + f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/"
            + quote(f"@spammer:{main.server_name}"),
            access_token=owner.access_token,
        )
        self.assertEqual((status, member.get("membership")), (200, "ban"), member)


class BatchStateInPartialStateRoomTests(E2ETestCase):
    async def test_batch_into_a_partial_state_room(self) -> None:
        a = await start_homeserver(
            self, load_module=False, extra_modules=[REFUSE_STATE]
        )
        b = await start_homeserver(self)
        owner = await a.register_user(self.client, "ps_owner")
        bob = await b.register_user(self.client, "ps_bob")
        users = {bob.user_id: 100}
        status, capabilities = await self.client.get_json(
            a.client_url + "/_matrix/client/v3/capabilities",
            access_token=owner.access_token,
        )
        self.assertEqual(status, 200, capabilities)
        default = capabilities["capabilities"]["m.room_versions"]["default"]
        # Synapse's default room version is 10 before 1.158.0 and 12 from 1.162.0.
        # Before version 12 the creator must be listed too; from 12 it must not.
        if not KNOWN_ROOM_VERSIONS[default].msc4289_creator_power_enabled:
            users[owner.user_id] = 100
        status, body = await self.client.post_json(
            a.client_url + "/_matrix/client/v3/createRoom",
            {"preset": "public_chat", "power_level_content_override": {"users": users}},
            access_token=owner.access_token,
        )
        self.assertEqual(status, 200, body)
        room_id = body["room_id"]
        status, body = await self.client.post_json(
            b.client_url
            + f"/_matrix/client/v3/join/{quote(room_id)}"
            + f"?server_name={quote(a.server_name)}",
            {},
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, body)
        self.assertIn(room_id, _partial_state_rooms(b))

        room = quote(room_id)
        status, body = await self.client.put_json(
            b.client_url + f"/_matrix/client/v3/rooms/{room}/state/org.example.ps/same",
            {"v": 1},
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, body)
        existing = body["event_id"]

        items: list[JsonDict] = [
            {"event_type": "org.example.ps", "state_key": f"k{i}", "content": {"i": i}}
            for i in range(5)
        ]
        items.append(
            {"event_type": "org.example.ps", "state_key": "same", "content": {"v": 1}}
        )
        status, ids = await self.client.put_json(
            b.client_url + BATCH.format(room=room, txn="ps1"),
            items,
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, ids)
        self.assertTrue(all(ids[:5]), ids)
        self.assertEqual(ids[5], existing)
        # Still partial: the batch did not wait for, or need, the full state.
        self.assertIn(room_id, _partial_state_rooms(b))

        # The events were sent over federation and A accepted them.
        content: Any = None
        for _ in range(100):
            status, content = await self.client.get_json(
                a.client_url
                + f"/_matrix/client/v3/rooms/{room}/state/org.example.ps/k4",
                access_token=owner.access_token,
            )
            if status == 200:
                break
            await pause()
        self.assertEqual(content, {"i": 4})


def _partial_state_rooms(hs: Homeserver) -> set[str]:
    with sqlite3.connect(hs.directory / "homeserver.db") as db:
        return {row[0] for row in db.execute("SELECT room_id FROM partial_state_rooms")}


class BatchStateAcrossARestartTests(_BatchStateClient):
    """Issue-level faults on one homeserver of its own, which the test restarts."""

    async def test_oversize_item_and_a_replay_after_a_restart(self) -> None:
        hs = await start_homeserver(self)
        owner = await hs.register_user(self.client, "restart_owner")
        room_id = await self.create_room(hs, owner.access_token)
        token = owner.access_token

        # An item whose content is under the 64 KiB content limit but whose event
        # is over Synapse's 65,536 bytes: null, and the rest go ahead.
        groups = _state_groups(hs, room_id)
        items: list[JsonDict] = [
            {"event_type": "com.example.u", "state_key": "u0", "content": {"j": 0}},
            {
                "event_type": "com.example.u",
                "state_key": "big",
                "content": {"pad": "x" * 65_490},
            },
            {"event_type": "com.example.u", "state_key": "u1", "content": {"j": 1}},
        ]
        status, ids = await self.batch(hs, room_id, "T", items, token)
        self.assertEqual(status, 200, ids)
        self.assertIsNotNone(ids[0])
        self.assertIsNone(ids[1])
        self.assertIsNotNone(ids[2])
        # One state group per event sent; none left behind for the big item.
        self.assertEqual(_state_groups(hs, room_id), groups + 2)

        # The user changes u0 later; the server restarts; the client, which never
        # saw the answer, retries T: the first answer, and nothing is undone.
        status, body = await self.client.put_json(
            hs.client_url
            + f"/_matrix/client/v3/rooms/{quote(room_id)}/state/com.example.u/u0",
            {"changed": "later"},
            access_token=token,
        )
        self.assertEqual(status, 200, body)
        events = _events(hs, room_id)
        await hs.process.stop()
        hs.launch()
        await hs.wait_until_ready()
        status, replay = await self.batch(hs, room_id, "T", items, token)
        self.assertEqual((status, replay), (200, ids))
        status, content = await self.state(hs, room_id, "com.example.u", "u0", token)
        self.assertEqual((status, content), (200, {"changed": "later"}))
        self.assertEqual(_events(hs, room_id), events)


def _state_groups(hs: Homeserver, room_id: str) -> int:
    with sqlite3.connect(hs.directory / "homeserver.db") as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM state_groups WHERE room_id = ?", (room_id,)
        ).fetchone()
    return int(count)


def _events(hs: Homeserver, room_id: str) -> int:
    with sqlite3.connect(hs.directory / "homeserver.db") as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM events WHERE room_id = ?", (room_id,)
        ).fetchone()
    return int(count)
