"""A room on A that B joined with partial state, and whose resync has failed.

As in the end-to-end tests (``tests/e2e/partial_state_scenario.py``): B's user joins
A's public room through A, which omits the members from ``/send_join``, so the room
is partial-state on B; the fault proxy refuses A's state (502), so B's join-time
resync fails. A room made by an earlier run that is still partial-state on B is used
again; otherwise a new one is made.
"""

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from demo_lib.output import say
from demo_lib.ports import DemoError
from demo_lib.users import Account
from tests.e2e.client import JsonClient
from tests.e2e.process import pause
from tests.e2e.tls_proxy import FederationProxy

ADMIN_ROOMS = "/_synapse/admin/v1/msc_extensions/partial_state_rooms"
CLIENT = "/_matrix/client/v3"
REFUSAL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Side:
    """One server as the room sees it: its name, client URL and a user on it."""

    server_name: str
    url: str
    user: Account


@dataclass(frozen=True)
class PartialRoom:
    room_id: str
    #: B's user's join: an event B sent to A.
    join_event_id: str


async def _b_partial_rooms(client: JsonClient, b: Side) -> list[str]:
    """B's partial-state rooms, latest join first; none if the module's admin API
    is off (msc3902 disabled in B's configuration)."""
    status, body = await client.get_json(
        b.url + ADMIN_ROOMS, access_token=b.user.access_token
    )
    if status != 200:
        return []
    rooms = sorted(body["rooms"], key=lambda room: room["join_time"], reverse=True)
    return [room["room_id"] for room in rooms]


def _expect(what: str, answer: tuple[int, Any]) -> Any:
    status, body = answer
    if status != 200:
        raise DemoError(f"{what} failed: {status} {body}")
    return body


async def _new_room(
    client: JsonClient,
    a: Side,
    members: list[Account],
    b: Side,
    proxy: FederationProxy,
) -> str:
    # B forgets any retry back-off from A that an earlier run left in its database
    # (404 or 400 when there is none).
    await client.post_json(
        b.url
        + f"/_synapse/admin/v1/federation/destinations/{quote(a.server_name)}"
        + "/reset_connection",
        {},
        access_token=b.user.access_token,
    )
    body = _expect(
        "Creating the room on A",
        await client.post_json(
            a.url + f"{CLIENT}/createRoom",
            {"preset": "public_chat", "name": "Partial-state demo"},
            access_token=a.user.access_token,
        ),
    )
    room_id: str = body["room_id"]
    for member in members:
        _expect(
            f"{member.user_id} joining the room",
            await client.post_json(
                a.url + f"{CLIENT}/join/{quote(room_id)}",
                {},
                access_token=member.access_token,
            ),
        )
    refused = len(proxy.refused)
    _expect(
        f"{b.user.user_id} joining the room through A",
        await client.post_json(
            b.url
            + f"{CLIENT}/join/{quote(room_id)}?server_name={quote(a.server_name)}",
            {},
            access_token=b.user.access_token,
        ),
    )
    deadline = time.monotonic() + REFUSAL_TIMEOUT_S
    while len(proxy.refused) == refused:
        if time.monotonic() > deadline:
            raise DemoError("B joined, but its resync never asked A for the state")
        await pause()
    return room_id


async def _join_event_id(client: JsonClient, a: Side, b: Side, room_id: str) -> str:
    body = _expect(
        "Reading B's join from A",
        await client.get_json(
            a.url
            + f"{CLIENT}/rooms/{quote(room_id)}/state/m.room.member/"
            + f"{quote(b.user.user_id)}?format=event",
            access_token=a.user.access_token,
        ),
    )
    event_id: str = body["event_id"]
    return event_id


async def partial_room(
    client: JsonClient,
    a: Side,
    members: list[Account],
    b: Side,
    proxy: FederationProxy,
) -> PartialRoom:
    """B's latest partial-state room, or a new one; the proxy must refuse A's
    state (see :func:`demo_lib.switch.refuse_state`)."""
    existing = await _b_partial_rooms(client, b)
    if existing:
        room_id = existing[0]
        say(f"Using the room {room_id}, still partial-state on B since the last run")
    else:
        say("Preparing a room on A that B joins with partial state")
        room_id = await _new_room(client, a, members, b, proxy)
    return PartialRoom(room_id, await _join_event_id(client, a, b, room_id))
