"""A private room on A to which A's user has invited B's: B has never been in it,
so B's user can reject the invite only through A (MSC4046's make_pdu and send_pdu
through a resident server).

The room is found by its alias on A, or created. A start that finds the invite
still pending keeps it; once B's user has rejected it (or on the first start), A's
user invites B's again. Should B's user have joined it instead (or be banned),
a new room without the alias is made. A sends the invite to B's own federation listener, which
the fault proxy in front of A does not see, so this works whatever the switch says.
"""

from urllib.parse import quote

from demo_lib.output import say
from demo_lib.partial_room import CLIENT, Side
from demo_lib.ports import DemoError
from tests.e2e.client import JsonClient

ALIAS = "msc4046-invite"
INVITE = "invite"


#: B's user's memberships from which A's user can invite it.
INVITABLE = ("", "leave")


async def _aliased_room(client: JsonClient, a: Side) -> str | None:
    alias = quote(f"#{ALIAS}:{a.server_name}")
    status, body = await client.get_json(a.url + f"{CLIENT}/directory/room/{alias}")
    if status != 200:
        return None
    room_id: str = body["room_id"]
    return room_id


async def _new_room(client: JsonClient, a: Side, *, alias: bool) -> str:
    content = {"preset": "private_chat", "name": "An invite to reject through A"}
    if alias:
        content["room_alias_name"] = ALIAS
    status, body = await client.post_json(
        a.url + f"{CLIENT}/createRoom", content, access_token=a.user.access_token
    )
    if status != 200:
        raise DemoError(f"Creating the invite room on A failed: {status} {body}")
    created: str = body["room_id"]
    return created


async def _membership(client: JsonClient, a: Side, room_id: str, user_id: str) -> str:
    """``user_id``'s membership in the room as A sees it; ``""`` when none."""
    status, body = await client.get_json(
        a.url + f"{CLIENT}/rooms/{quote(room_id)}/state/m.room.member/{quote(user_id)}",
        access_token=a.user.access_token,
    )
    if status != 200:
        return ""
    membership: str = body.get("membership", "")
    return membership


async def pending_invite(client: JsonClient, a: Side, b: Side) -> str:
    """The room on A to which B's user has a pending invite (sent now if needed)."""
    invitee = b.user.user_id
    room_id = await _aliased_room(client, a)
    if room_id is None:
        room_id = await _new_room(client, a, alias=True)
    else:
        membership = await _membership(client, a, room_id, invitee)
        if membership == INVITE:
            return room_id
        if membership not in INVITABLE:
            room_id = await _new_room(client, a, alias=False)
    say("Inviting B's user to a private room on A")
    status, body = await client.post_json(
        a.url + f"{CLIENT}/rooms/{quote(room_id)}/invite",
        {"user_id": invitee},
        access_token=a.user.access_token,
    )
    if status != 200:
        raise DemoError(f"Inviting {invitee} to {room_id} on A failed: {status} {body}")
    return room_id
