"""Private APIs for what Synapse does after a member has left a room.

What this file relies on:

1. ``RoomMemberHandler._user_left_room(target, room_id)``
   (``hs.get_room_member_handler()``): ``_local_membership_update`` calls it
   after persisting a ``leave`` of a user whose membership was ``join`` (a kick,
   or leaving; not a ban). On the main process it signals the distributor's
   ``user_left_room`` (typing notifications and the like are cleaned up); on a
   worker it tells the main process over replication.
"""

from synapse.server import HomeServer
from synapse.types import UserID


class MembershipEffects:
    """Follow-ups Synapse runs after persisting a membership change."""

    def __init__(self, hs: HomeServer) -> None:
        self._member_handler = hs.get_room_member_handler()

    async def user_left_room(self, user_id: str, room_id: str) -> None:
        """Tell Synapse that the joined user ``user_id`` has left ``room_id``."""
        await self._member_handler._user_left_room(UserID.from_string(user_id), room_id)
