"""Private APIs for sending one state event exactly as ``PUT /state`` does.

What this file relies on:

1. ``RoomMemberHandler.update_membership(requester, target, room_id, action,
   content, ratelimit)`` (``hs.get_room_member_handler()``): every check of the
   membership APIs (spam checkers, ``block_non_admin_invites``, server notices,
   invite rules, transition rules, profile fill-in, remote invites over
   federation); and ``ratelimit_invite``, the invite rate limit
   ``PUT /state/m.room.member`` passes through.
2. ``EventCreationHandler.create_and_send_nonmember_event(requester, event_dict,
   ratelimit)``: the single-event path of ``PUT /state`` for other state events,
   which also works in partial-state rooms and answers a repeat of current state
   with the existing event.

Both raise ``ShadowBanError`` for a shadow-banned requester where Synapse pretends
instead of sending.
"""

from synapse.api.constants import Membership
from synapse.server import HomeServer
from synapse.types import JsonDict, UserID

from msc_extensions._synapse_private.compat import Requester


class SingleSends:
    """Synapse's own one-event-at-a-time paths."""

    def __init__(self, hs: HomeServer) -> None:
        self._member_handler = hs.get_room_member_handler()
        self._creation = hs.get_event_creation_handler()

    async def send_membership(
        self,
        requester: Requester,
        room_id: str,
        target: str,
        membership: str,
        content: JsonDict,
    ) -> str:
        """What ``PUT /state/m.room.member/{target}`` does, every check included,
        but for the per-event message rate limit, which the caller replaces with
        its own. Invites still pass the invite rate limits and joins the join
        rate limits. Returns the event ID.

        Raises:
            SynapseError: the change is not allowed.
            ShadowBanError: the requester is shadow-banned and this is an invite.
        """
        target_id = UserID.from_string(target)
        if membership == Membership.INVITE:
            await self._member_handler.ratelimit_invite(
                requester, room_id, target_id.to_string()
            )
        event_id, _ = await self._member_handler.update_membership(
            requester,
            target=target_id,
            room_id=room_id,
            action=membership,
            content=dict(content),
            ratelimit=membership == Membership.JOIN,
        )
        return event_id

    async def send_state_event(self, requester: Requester, event_dict: JsonDict) -> str:
        """What ``PUT /state/{type}/{key}`` does for a non-membership event, but
        for the per-event message rate limit. Returns the event ID: the new
        event's, or the current one's if the event would repeat it.

        Raises:
            SynapseError: the event is not allowed.
            ShadowBanError: the requester is shadow-banned.
        """
        event, _ = await self._creation.create_and_send_nonmember_event(
            requester, event_dict, ratelimit=False
        )
        return event.event_id
