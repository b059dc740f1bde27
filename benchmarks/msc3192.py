"""MSC3192: 50 state events sent one by one versus in one batch_state request.

On one real homeserver, over HTTP, each round measures:

- 50 sequential ``PUT /rooms/{roomId}/state/{type}/{key}`` against one
  ``batch_state`` with 50 other distinct keys of the same type;
- 50 sequential invites of local users (``PUT /state/m.room.member/{userId}``)
  against one ``batch_state`` inviting 50 others;
- once all those users have joined (not timed), 50 sequential kicks of joined
  members against one ``batch_state`` kicking the other 50;
- 50 sequential bans of users who are not in the room against one
  ``batch_state`` of 50 other bans;
- then 50 sequential invites of users on two other servers against one
  ``batch_state`` inviting 50 others (:func:`remote_invites`): once on three new
  homeservers (A inviting, B and C each with 25 of the invitees, all real
  ``synapse.app.homeserver`` processes federating over TLS on loopback), and once
  on one new homeserver whose two other servers answer as LAN neighbours would,
  10 ms per request (:mod:`benchmarks._lan_remotes`).

Every round uses new keys, so nothing is deduplicated, and alternates the two sides
so that both see a room of the same size. The first round warms caches and is not
counted.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

from twisted.internet import defer

from benchmarks import BenchOptions, Comparison, register
from benchmarks._lan_remotes import MODULE as LAN_MODULE
from benchmarks._rooms import private_room
from benchmarks._timing import run_rounds, timed
from tests.e2e.client import JsonClient
from tests.e2e.homeserver import (
    Homeserver,
    RegisteredUser,
    start_homeserver,
)

N_EVENTS = 50
STATE_TYPE = "org.example.bench"
BATCH_PATH = (
    "/_matrix/client/unstable/org.matrix.msc3192/rooms/{room}/batch_state/{txn}"
)

# Rate limits stay out of the measurement: Synapse's own are generous in the
# fixture's configuration, and the batch's is raised here.
MODULE_CONFIG = {"msc3192": {"rate_limit": {"per_second": 1000, "burst_count": 1000}}}


class Bench:
    def __init__(self, hs: Homeserver, client: JsonClient, token: str, room_id: str):
        self.hs = hs
        self.client = client
        self.token = token
        self.room_id = room_id
        self.txn = 0

    async def put(self, path: str, content: Any) -> Any:
        status, body = await self.client.put_json(
            self.hs.client_url + path, content, access_token=self.token
        )
        if status != 200:
            raise RuntimeError(f"PUT {path}: {status} {body}")
        return body

    async def one_by_one(self, items: Sequence[dict[str, Any]]) -> None:
        room = quote(self.room_id)
        for item in items:
            await self.put(
                f"/_matrix/client/v3/rooms/{room}/state/"
                f"{quote(item['event_type'])}/{quote(item['state_key'])}",
                item["content"],
            )

    async def batch(self, items: Sequence[dict[str, Any]]) -> None:
        self.txn += 1
        ids = await self.put(
            BATCH_PATH.format(room=quote(self.room_id), txn=f"bench{self.txn}"),
            list(items),
        )
        if None in ids:
            raise RuntimeError(f"batch_state left items out: {ids}")


def state_items(tag: str) -> list[dict[str, Any]]:
    return [
        {"event_type": STATE_TYPE, "state_key": f"{tag}-{i}", "content": {"i": i}}
        for i in range(N_EVENTS)
    ]


def member_items(
    user_ids: Sequence[str], membership: str, **extra: Any
) -> list[dict[str, Any]]:
    return [
        {
            "event_type": "m.room.member",
            "state_key": user_id,
            "content": {"membership": membership, **extra},
        }
        for user_id in user_ids
    ]


def ban_items(tag: str, server_name: str) -> list[dict[str, Any]]:
    return member_items(
        [f"@spam-{tag}-{i}:{server_name}" for i in range(N_EVENTS)],
        "ban",
        reason="benchmark",
    )


async def register_users(
    hs: Homeserver, client: JsonClient, tag: str
) -> list[RegisteredUser]:
    return [await hs.register_user(client, f"{tag}-{i}") for i in range(N_EVENTS)]


async def join_all(
    hs: Homeserver, client: JsonClient, room_id: str, users: Sequence[RegisteredUser]
) -> None:
    for user in users:
        status, body = await client.post_json(
            hs.client_url + f"/_matrix/client/v3/rooms/{quote(room_id)}/join",
            {},
            access_token=user.access_token,
        )
        if status != 200:
            raise RuntimeError(f"join: {status} {body}")


@register(
    "msc3192",
    "50 x PUT /state vs one batch_state, for state, invites, kicks and bans",
)
async def run(options: BenchOptions) -> list[Comparison]:
    client = JsonClient()
    hs = await start_homeserver(
        None, module_config=MODULE_CONFIG, database=options.new_database()
    )
    try:
        user = await hs.register_user(client, "bench", admin=True)
        room_id = await private_room(client, hs, user.access_token)
        bench = Bench(hs, client, user.access_token, room_id)

        state = Comparison(
            f"{N_EVENTS} state events",
            f"{N_EVENTS} sequential PUT /state",
            f"one batch_state of {N_EVENTS}",
        )
        invites = Comparison(
            f"{N_EVENTS} local invites",
            f"{N_EVENTS} sequential PUT /state/m.room.member",
            f"one batch_state of {N_EVENTS} invites",
        )
        kicks = Comparison(
            f"{N_EVENTS} kicks",
            f"{N_EVENTS} sequential PUT /state/m.room.member",
            f"one batch_state of {N_EVENTS} kicks",
        )
        bans = Comparison(
            f"{N_EVENTS} bans",
            f"{N_EVENTS} sequential PUT /state/m.room.member",
            f"one batch_state of {N_EVENTS} bans",
        )

        async def one_round(round_number: int) -> list[tuple[float, float]]:
            tag = f"r{round_number}"
            single_state = await timed(bench.one_by_one(state_items(f"{tag}s")))
            batch_state = await timed(bench.batch(state_items(f"{tag}b")))

            single_users = await register_users(hs, client, f"{tag}s")
            batch_users = await register_users(hs, client, f"{tag}b")
            single_ids = [u.user_id for u in single_users]
            batch_ids = [u.user_id for u in batch_users]
            single_invites = await timed(
                bench.one_by_one(member_items(single_ids, "invite"))
            )
            batch_invites = await timed(bench.batch(member_items(batch_ids, "invite")))
            await join_all(hs, client, room_id, [*single_users, *batch_users])
            single_kicks = await timed(
                bench.one_by_one(member_items(single_ids, "leave", reason="bench"))
            )
            batch_kicks = await timed(
                bench.batch(member_items(batch_ids, "leave", reason="bench"))
            )

            single_bans = await timed(
                bench.one_by_one(ban_items(f"{tag}s", hs.server_name))
            )
            batch_bans = await timed(bench.batch(ban_items(f"{tag}b", hs.server_name)))
            return [
                (single_state, batch_state),
                (single_invites, batch_invites),
                (single_kicks, batch_kicks),
                (single_bans, batch_bans),
            ]

        await run_rounds(options.rounds, [state, invites, kicks, bans], one_round)
    finally:
        await hs.stop()
    try:
        remote = [] if options.local_only else await remote_invites(options, client)
    finally:
        await client.close()
    return [state, invites, kicks, bans, *remote]


#: The LAN-like remote servers' answer time per request, in milliseconds.
LAN_LATENCY_MS = 10
LAN_SERVERS = ("lan-b.example", "lan-c.example")


async def remote_invites(options: BenchOptions, client: JsonClient) -> list[Comparison]:
    """50 invites of users on two other servers, one by one against one batch:
    against real homeservers, then against LAN-like ones."""
    return [
        await real_remote_invites(options, client),
        await lan_remote_invites(options, client),
    ]


async def real_remote_invites(options: BenchOptions, client: JsonClient) -> Comparison:
    """Every invite, either way, is a real round trip to a real homeserver: the
    invitee's profile (``GET /query/profile``) and the invitee's server signing
    the invite (``PUT /invite``), over TLS on loopback. The invitees are
    registered on their servers first (not timed), so their profiles exist.
    ``rc_federation`` is raised in the fixture, so the invitees' servers do not
    pace the requests (with Synapse's defaults they would, for both sides). The
    three servers share the machine's cores, so this is an upper bound.
    """
    inviting = await start_homeserver(
        None, module_config=MODULE_CONFIG, database=options.new_database()
    )
    # Each with a database of its own.
    servers: list[Homeserver] = await defer.gatherResults(
        [
            defer.ensureDeferred(
                start_homeserver(None, database=options.new_database())
            )
            for _ in range(2)
        ]
    )

    async def register_on(server: int, tag: str) -> list[RegisteredUser]:
        # One at a time on each server: concurrent registrations can race on
        # PostgreSQL.
        return [
            await servers[server].register_user(client, f"{tag}-{i}")
            for i in range(server, N_EVENTS, 2)
        ]

    async def invitees(tag: str) -> list[str]:
        on_b, on_c = await defer.gatherResults(
            [defer.ensureDeferred(register_on(n, tag)) for n in (0, 1)]
        )
        # Interleaved: B, C, B, C, ...
        return [user.user_id for pair in zip(on_b, on_c, strict=True) for user in pair]

    try:
        return await remote_invite_rounds(
            options, client, inviting, invitees, "real homeservers"
        )
    finally:
        await inviting.stop()
        for server in servers:
            await server.stop()


async def lan_remote_invites(options: BenchOptions, client: JsonClient) -> Comparison:
    """The inviting server's own work: the two other servers answer from
    :mod:`benchmarks._lan_remotes`, each request after ``LAN_LATENCY_MS``."""
    inviting = await start_homeserver(
        None,
        module_config=MODULE_CONFIG,
        database=options.new_database(),
        extra_modules=[
            {
                "module": LAN_MODULE,
                "config": {"servers": LAN_SERVERS, "latency_ms": LAN_LATENCY_MS},
            }
        ],
    )

    async def invitees(tag: str) -> list[str]:
        return [f"@{tag}-{i}:{LAN_SERVERS[i % 2]}" for i in range(N_EVENTS)]

    try:
        return await remote_invite_rounds(
            options, client, inviting, invitees, f"{LAN_LATENCY_MS} ms LAN"
        )
    finally:
        await inviting.stop()


async def remote_invite_rounds(
    options: BenchOptions,
    client: JsonClient,
    inviting: Homeserver,
    invitees: Callable[[str], Awaitable[list[str]]],
    remotes: str,
) -> Comparison:
    """New invitees every round (half on each of two servers, interleaved),
    alternating one by one and one batch."""
    owner = await inviting.register_user(client, "bench", admin=True)
    room_id = await private_room(client, inviting, owner.access_token)
    bench = Bench(inviting, client, owner.access_token, room_id)
    row = Comparison(
        f"{N_EVENTS} remote invites, {remotes}",
        f"{N_EVENTS} sequential PUT /state/m.room.member",
        f"one batch_state of {N_EVENTS} invites",
    )

    async def one_round(round_number: int) -> list[tuple[float, float]]:
        tag = f"r{round_number}"
        single_ids = await invitees(f"{tag}s")
        batch_ids = await invitees(f"{tag}b")
        single = await timed(bench.one_by_one(member_items(single_ids, "invite")))
        batch = await timed(bench.batch(member_items(batch_ids, "invite")))
        return [(single, batch)]

    await run_rounds(options.rounds, [row], one_round)
    return row
