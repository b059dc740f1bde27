"""Two real homeservers: B joins A's room with partial state while A cannot serve
state, then A comes back. Shared by the end-to-end tests and the benchmark.

- A's server name points at a :class:`~tests.e2e.tls_proxy.FederationProxy` in front
  of its federation listener; while blocked, the proxy answers A's ``/state`` and
  ``/state_ids`` with 502, so B's join-time resync fails and B puts A into retry
  back-off (Synapse's: 10 minutes and more).
- A has a public room with ``members`` users (the owner included).
- B's user joins through A: a partial-state join (members omitted).
- "A returns": the proxy forwards everything again and A's users keep talking, so A
  sends B transactions.

Whether B's room is partial-state is read from B's own database
(``partial_state_rooms``, on SQLite or PostgreSQL), which works with and without the
module.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.e2e.client import JsonClient, use_the_real_reactor_for_tls
from tests.e2e.config import free_port
from tests.e2e.database import query
from tests.e2e.homeserver import Homeserver, RegisteredUser, start_homeserver
from tests.e2e.process import pause
from tests.e2e.tls_proxy import FederationProxy

#: Short enough for a test, long enough to see the back-off.
RESYNC_INTERVAL_S = 6
MODULE_CONFIG: dict[str, Any] = {
    "msc3902": {
        "resync_interval": f"{RESYNC_INTERVAL_S}s",
        "max_resync_interval": f"{4 * RESYNC_INTERVAL_S}s",
    }
}
LOOP_DISABLED: dict[str, Any] = {"msc3902": {"enabled": False}}


@dataclass
class PartialStatePair:
    a: Homeserver
    b: Homeserver
    proxy: FederationProxy
    owner: RegisteredUser
    a_users: list[RegisteredUser]
    bob: RegisteredUser
    room_id: str = ""
    a_members: list[str] = field(default_factory=list)

    def b_partial_state_rooms(self) -> set[str]:
        return {
            row[0] for row in _query(self.b, "SELECT room_id FROM partial_state_rooms")
        }

    def b_is_partial(self) -> bool:
        return self.room_id in self.b_partial_state_rooms()

    def b_join_event_id(self) -> str:
        """The event ID of bob's partial-state join, from B's own database."""
        rows = _query(
            self.b,
            "SELECT join_event_id FROM partial_state_rooms WHERE room_id = ?",
            (self.room_id,),
        )
        assert rows and rows[0][0], rows
        return str(rows[0][0])

    def b_backs_off_from_a(self) -> bool:
        rows = _query(
            self.b,
            "SELECT retry_last_ts FROM destinations WHERE destination = ?",
            (self.a.server_name,),
        )
        return bool(rows and rows[0][0])

    async def stop(self) -> None:
        await self.proxy.stop()
        await defer.gatherResults(
            [defer.ensureDeferred(self.a.stop()), defer.ensureDeferred(self.b.stop())]
        )


def _query(hs: Homeserver, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    return query(hs, sql, args)


async def start_partial_state_pair(
    test: TestCase | None,
    client: JsonClient,
    *,
    b_module_config: dict[str, Any] | None,
    members: int = 40,
    b_options: Mapping[str, Any] | None = None,
) -> PartialStatePair:
    """Both servers up, A's room full of members, the proxy blocking state requests
    and B's user joined with partial state; B's join-time resync has failed.
    ``b_options`` are more :func:`start_homeserver` options for B (``database``,
    ``load_module``, listeners, overrides)."""
    use_the_real_reactor_for_tls()
    port = free_port()
    a = Homeserver(overrides={"server_name": f"127.0.0.1:{port}"})
    a.server_name = f"127.0.0.1:{port}"
    if test is not None:
        test.addCleanup(a.stop)
    a.launch()
    b_start = defer.ensureDeferred(
        start_homeserver(test, module_config=b_module_config, **(b_options or {}))
    )
    proxy = await FederationProxy.start(test, a.directory, port=port)
    proxy.backend_url = a.federation_url
    proxy.blocked = True
    await a.wait_until_ready()
    b = await b_start

    owner = await a.register_user(client, "owner")
    users = [owner] + [
        await a.register_user(client, f"member{i}") for i in range(members - 1)
    ]
    bob = await b.register_user(client, "bob", admin=True)
    pair = PartialStatePair(a, b, proxy, owner, users, bob)

    status, body = await client.post_json(
        a.client_url + "/_matrix/client/v3/createRoom",
        {"preset": "public_chat"},
        access_token=owner.access_token,
    )
    assert status == 200, body
    pair.room_id = body["room_id"]
    for user in users[1:]:
        status, body = await client.post_json(
            a.client_url + f"/_matrix/client/v3/join/{quote(pair.room_id)}",
            {},
            access_token=user.access_token,
        )
        assert status == 200, body
    pair.a_members = [u.user_id for u in users]

    status, body = await client.post_json(
        b.client_url
        + f"/_matrix/client/v3/join/{quote(pair.room_id)}"
        + f"?server_name={quote(a.server_name)}",
        {},
        access_token=bob.access_token,
    )
    assert status == 200, body
    # The join-time resync asks A for state, is refused and gives up.
    await wait_until(lambda: bool(proxy.refused), 30, "B's resync asks A for state")
    await wait_until(pair.b_backs_off_from_a, 30, "B backs off from A")
    assert pair.b_is_partial()
    return pair


ADMIN_ROOMS = "/_synapse/admin/v1/msc_extensions/partial_state_rooms"


async def b_admin_rooms(pair: PartialStatePair, client: JsonClient) -> list[Any]:
    """B's ``GET partial_state_rooms`` (the module's admin API; bob is an admin)."""
    status, body = await client.get_json(
        pair.b.client_url + ADMIN_ROOMS, access_token=pair.bob.access_token
    )
    assert status == 200, body
    rooms: list[Any] = body["rooms"]
    return rooms


async def wait_for_failed_retries(
    pair: PartialStatePair, client: JsonClient, attempts: int, timeout_s: float
) -> dict[str, Any]:
    """Until the module's loop has made ``attempts`` attempts in all (Synapse's
    join-time one included), all failed, and none is running; returns the room's
    entry from the admin API."""
    deadline = time.monotonic() + timeout_s
    while True:
        rooms = await b_admin_rooms(pair, client)
        room = next(r for r in rooms if r["room_id"] == pair.room_id)
        if room["attempts"] >= attempts and not room["resync_running"]:
            return dict(room)
        if time.monotonic() > deadline:
            raise AssertionError(f"no {attempts} failed attempts in time: {room}")
        await pause()


async def a_returns_and_talks(pair: PartialStatePair, until: float) -> None:
    """Unblock the proxy; A's users send a message every half second until
    ``until`` (a ``time.monotonic()`` deadline) or until B's room is full."""
    pair.proxy.blocked = False
    client = JsonClient()
    try:
        i = 0
        while time.monotonic() < until and pair.b_is_partial():
            user = pair.a_users[i % len(pair.a_users)]
            await client.put_json(
                pair.a.client_url
                + f"/_matrix/client/v3/rooms/{quote(pair.room_id)}/send/"
                + f"m.room.message/t{i}",
                {"msgtype": "m.text", "body": f"still here {i}"},
                access_token=user.access_token,
            )
            i += 1
            for _ in range(5):
                await pause()
    finally:
        await client.close()


async def time_to_full_state(
    pair: PartialStatePair, limit_s: float, *, talk: bool = True
) -> float | None:
    """A returns now (its users talking, unless ``talk`` is false); seconds until
    B's room is full-state, or None after ``limit_s``."""
    start = time.monotonic()
    if talk:
        talking = defer.ensureDeferred(a_returns_and_talks(pair, start + limit_s))
    else:
        pair.proxy.blocked = False
        talking = defer.succeed(None)
    try:
        while time.monotonic() - start < limit_s:
            if not pair.b_is_partial():
                return time.monotonic() - start
            await pause()
        return None
    finally:
        await talking


async def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting until {what}")
        await pause()
