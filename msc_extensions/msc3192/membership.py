"""The rules a membership item must pass before its event is built in a batch.

Synapse's ``update_membership`` reads the room from the database, so it cannot see
the events of a batch that are not persisted yet, and it has no point at which its
checks could be run on their own. A batch therefore runs the same rules itself, in
the same order, against the state that includes its earlier items, so that each
item gets the answer ``PUT /state/m.room.member/{userId}`` would give on that
state:

1. for an invite, the ``rc_invites`` limits (per room, per invitee, per issuer);
2. for an invite, a suspended requester is refused;
3. the profile fields: dropped unless per-room profiles are allowed, length and
   avatar limits, the target's global profile filled in for invites;
4. for an invite, a room blocked on this server is refused, then the server
   notices rules, ``block_non_admin_invites``, the ``user_may_invite`` spam check
   and the invitee's invite rules (server admins skip the last three);
5. the transition rules: a banned user can only be banned again or unbanned
   (``leave``), a change that repeats the target's current membership event (same
   sender, same content) is not sent again and answers with the existing event
   ID, and an invite to a server notices room cannot be withdrawn.

The auth rules come after, when the event is built (:mod:`.batch`), and for an
invite of a user of another server, that server's signature. Only changes to
other users' memberships come here: invites, kicks, bans and unbans
(:func:`batchable_membership`); the rest go through Synapse's own single path.
"""

from collections.abc import Sequence

import attr
from synapse.api.constants import Membership
from synapse.api.errors import Codes, SynapseError
from synapse.module_api import EventBase
from synapse.types import JsonDict

from msc_extensions._synapse_private.invite_checks import InviteChecks
from msc_extensions._synapse_private.member_profiles import (
    LocalProfiles,
    MemberProfiles,
)
from msc_extensions._synapse_private.requesters import AccountStatus, Requester
from msc_extensions._synapse_private.room_reads import RoomReads
from msc_extensions.msc3192.config import RemoteInvitesConfig
from msc_extensions.msc3192.items import BatchItem

#: The memberships a batch sets for other users itself.
BATCHED_MEMBERSHIPS = frozenset({Membership.INVITE, Membership.LEAVE, Membership.BAN})


def batchable_membership(requester: Requester, item: BatchItem) -> bool:
    """Whether the batch path serves this membership item: a change to another
    user's membership (invite, kick, ban, unban), by a requester who is not
    shadow-banned. Invitees may be users of any server: the batch has those of
    other servers sign their invites (:mod:`.batch`).

    The requester's own joins and leaves, and knocks, go through Synapse's
    single path, as do all items of shadow-banned requesters (whose invites
    Synapse fakes, but whose kicks and bans it sends).
    """
    membership = item.content.get("membership")
    if membership not in BATCHED_MEMBERSHIPS or requester.shadow_banned:
        return False
    return item.state_key != requester.user.to_string()


@attr.s(frozen=True, slots=True, auto_attribs=True)
class MemberChange:
    """A membership event to build: its content, and the target's membership
    before it."""

    content: JsonDict
    previous: str | None


class MembershipRules:
    """Decides membership items as ``update_membership`` would."""

    def __init__(
        self,
        rooms: RoomReads,
        accounts: AccountStatus,
        invites: InviteChecks,
        profiles: MemberProfiles,
        remote: RemoteInvitesConfig,
    ) -> None:
        self._rooms = rooms
        self._accounts = accounts
        self._invites = invites
        self._profiles = profiles
        self._remote = remote

    async def read_ahead(self, items: Sequence[BatchItem]) -> LocalProfiles:
        """Read, in one go rather than item by item, what the rules and the
        persisting of ``items`` read about their targets: the invitees' invite
        rules (into Synapse's cache, where both read them), and the global
        profiles of the targets whose membership events carry them (invites),
        which are returned: those of this server in one query, those of other
        servers over federation, several at once, each with the wait of
        ``remote_invites.timeout``."""
        members = [item for item in items if item.is_membership]
        await self._invites.read_invite_rules(
            [
                item.state_key
                for item in members
                if item.content.get("membership") == Membership.INVITE
            ]
        )
        targets = [
            item.state_key
            for item in members
            if self._profiles.needs_profile(item.content.get("membership", ""))
        ]
        local = await self._profiles.read_local(targets)
        remote = await self._profiles.read_remote(
            targets, self._remote.concurrency, self._remote.timeout_ms
        )
        return local.merged(remote)

    async def check(
        self,
        requester: Requester,
        room_id: str,
        item: BatchItem,
        is_admin: bool,
        current: EventBase | None,
        profiles: LocalProfiles,
    ) -> MemberChange | str:
        """The event to build for ``item``, or the ID of ``current`` (the target's
        membership event in the state that includes the batch's earlier items)
        when the item repeats it. ``profiles``: those read by
        :meth:`read_ahead`.

        Raises:
            SynapseError: the change is refused, with the single path's status,
                errcode and message.
        """
        membership = item.content["membership"]
        target = item.state_key
        sender = requester.user.to_string()
        is_notices_user = self._invites.is_server_notices_user(sender)
        if membership == Membership.INVITE:
            await self._invites.ratelimit(requester, room_id, target)
            if await self._accounts.is_suspended(requester):
                raise SynapseError(
                    403,
                    "Sending invites while account is suspended is not allowed.",
                    Codes.USER_ACCOUNT_SUSPENDED,
                )
        content = await self._profiles.content_for(
            requester, target, membership, item.content, is_notices_user, profiles
        )
        if membership == Membership.INVITE:
            if await self._rooms.is_blocked(room_id):
                raise SynapseError(403, "This room has been blocked on this server")
            await self._invites.check(requester, room_id, target, is_admin)
        if current is None:
            return MemberChange(content, previous=None)

        previous = current.content.get("membership")
        if previous == Membership.BAN and membership not in (
            Membership.BAN,
            Membership.LEAVE,
        ):
            raise SynapseError(
                403,
                f"Cannot {membership} user who was banned",
                errcode=Codes.BAD_STATE,
            )
        if current.sender == sender and content == current.content:
            return current.event_id
        if (
            previous == Membership.INVITE
            and membership == Membership.LEAVE
            and await self._rooms.is_server_notice_room(room_id)
        ):
            raise SynapseError(
                403,
                "You cannot reject this invite",
                errcode=Codes.CANNOT_LEAVE_SERVER_NOTICE_ROOM,
            )
        return MemberChange(content, previous=previous)
