"""Rooms shared by real homeservers, for the MSC2314 end-to-end tests: creating,
joining over federation, sending and waiting for messages."""

import time
from urllib.parse import quote

from tests.e2e.client import JsonClient
from tests.e2e.homeserver import Homeserver, RegisteredUser
from tests.e2e.process import pause

MESSAGE_TIMEOUT_S = 30.0


async def create_room(client: JsonClient, hs: Homeserver, token: str) -> str:
    status, body = await client.post_json(
        hs.client_url + "/_matrix/client/v3/createRoom",
        {"preset": "public_chat"},
        access_token=token,
    )
    assert status == 200, body
    room_id: str = body["room_id"]
    return room_id


async def room_version(
    client: JsonClient, hs: Homeserver, room_id: str, token: str
) -> str:
    """The room's version, from its create event: the homeserver's default for a
    room :func:`create_room` made (10 before Synapse 1.158.0, 12 from 1.162.0)."""
    status, content = await client.get_json(
        hs.client_url
        + f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.create/",
        access_token=token,
    )
    assert status == 200, content
    version: str = content.get("room_version", "1")
    return version


async def join_over_federation(
    client: JsonClient, hs: Homeserver, via: Homeserver, room_id: str, token: str
) -> None:
    status, body = await client.post_json(
        hs.client_url
        + f"/_matrix/client/v3/join/{quote(room_id)}?server_name={quote(via.server_name)}",
        {},
        access_token=token,
    )
    assert status == 200, body


async def joined_members(
    client: JsonClient, hs: Homeserver, room_id: str, token: str
) -> set[str]:
    status, body = await client.get_json(
        hs.client_url + f"/_matrix/client/v3/rooms/{quote(room_id)}/joined_members",
        access_token=token,
    )
    if status != 200:
        return set()
    return set(body["joined"])


async def wait_for_message(
    client: JsonClient, hs: Homeserver, user: RegisteredUser, room_id: str, text: str
) -> None:
    deadline = time.monotonic() + MESSAGE_TIMEOUT_S
    url = (
        hs.client_url
        + f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=20"
    )
    while True:
        status, body = await client.get_json(url, access_token=user.access_token)
        if status == 200 and any(
            e.get("content", {}).get("body") == text for e in body["chunk"]
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{user.user_id} never saw {text!r} on {hs.server_name}: {status} {body}"
            )
        await pause()


async def send_message(
    client: JsonClient, hs: Homeserver, user: RegisteredUser, room_id: str, text: str
) -> None:
    status, body = await client.put_json(
        hs.client_url
        + f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/"
        + f"t{time.monotonic_ns()}",
        {"msgtype": "m.text", "body": text},
        access_token=user.access_token,
    )
    assert status == 200, body


async def joined_rooms(
    client: JsonClient, hs: Homeserver, user: RegisteredUser
) -> list[str]:
    status, body = await client.get_json(
        hs.client_url + "/_matrix/client/v3/joined_rooms",
        access_token=user.access_token,
    )
    assert status == 200, body
    rooms: list[str] = body["joined_rooms"]
    return rooms
