"""What removing a room from this server needs: its local aliases, making local
users leave and forget it, and purging it.

What this file relies on, and why:

1. ``DataStore.get_aliases_for_room``: the room's aliases on this server, which the
   purge deletes.
2. ``DataStore.get_local_users_related_to_room`` and
   ``RoomMemberHandler.update_membership`` and ``forget``: local users leave and
   forget the room, as the room shutdown admin API makes them
   (``ratelimit=False``, ``require_consent=False``, ``do_not_schedule_purge=True``).
   ``update_membership`` returns the leave's stream position.
3. ``PaginationHandler.purge_room(room_id, force=True)``: delete every trace of the
   room, as the room delete admin API does, whether or not local users are in it.
"""

from typing import Any

from synapse.api.constants import Membership
from synapse.server import HomeServer
from synapse.types import UserID, create_requester

__all__ = ["RoomRemoval"]

#: Memberships a local user leaves from (as the room shutdown admin API does).
_LEAVES_FROM = (Membership.JOIN, Membership.INVITE, Membership.KNOCK)


class RoomRemoval:
    """The steps of removing a room from one homeserver."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main

    # (1)
    async def local_aliases(self, room_id: str) -> list[str]:
        return list(await self._store.get_aliases_for_room(room_id))

    # (2)
    async def make_local_users_leave(self, room_id: str) -> dict[str, int]:
        """Every local user joined, invited or knocking leaves and forgets the room.
        Returns each user's leave event stream position."""
        handler = self._hs.get_room_member_handler()
        left: dict[str, int] = {}
        related = await self._store.get_local_users_related_to_room(room_id)
        for user_id, membership in related:
            if membership not in _LEAVES_FROM:
                continue
            requester = create_requester(user_id)
            _, stream_id = await handler.update_membership(
                requester=requester,
                target=UserID.from_string(user_id),
                room_id=room_id,
                action=Membership.LEAVE,
                content={},
                ratelimit=False,
                require_consent=False,
            )
            await handler.forget(requester.user, room_id, do_not_schedule_purge=True)
            left[user_id] = int(stream_id)
        return left

    # (3)
    async def purge(self, room_id: str) -> None:
        await self._hs.get_pagination_handler().purge_room(room_id, force=True)
