"""Rooms the benchmarks measure in."""

from tests.e2e.client import JsonClient
from tests.e2e.homeserver import Homeserver


async def private_room(client: JsonClient, hs: Homeserver, token: str) -> str:
    """A new private room on ``hs``, created by the user of ``token``."""
    status, body = await client.post_json(
        hs.client_url + "/_matrix/client/v3/createRoom",
        {"preset": "private_chat"},
        access_token=token,
    )
    if status != 200:
        raise RuntimeError(f"createRoom: {status} {body}")
    room_id: str = body["room_id"]
    return room_id
