"""Private APIs for the checks Synapse makes on an invite before creating it.

``RoomMemberHandler.update_membership`` runs these for every invite, reading the
room from the database; a batch of membership events asks them item by item, in
the same order, so that each invite gets the answer ``POST /invite`` would give.

What this file relies on:

1. ``RoomMemberHandler.ratelimit_invite(requester, room_id, invitee)``
   (``hs.get_room_member_handler()``): the ``rc_invites`` limits per room, per
   recipient and per issuer, taken once per invite as the single path takes
   them (``LimitExceededError``, 429).
2. ``ServerNoticesConfig.server_notices_mxid`` (``hs.config.servernotices``): the
   server notices user may not be invited, and counts as a server admin when it
   invites or sets a per-room profile.
3. ``ServerConfig.block_non_admin_invites``.
4. The ``user_may_invite(inviter, invitee, room_id)`` spam-checker callback, which
   answers ``NOT_SPAM`` or ``(errcode, fields)``.
5. ``DataStore.get_invite_config_for_user(invitee)`` and
   ``InviteRulesConfig.get_invite_rule(inviter)``, with
   ``synapse.storage.invite_rule.InviteRule.BLOCK`` (MSC4155 invite filtering;
   ``IGNORE`` is applied at /sync).
"""

from http import HTTPStatus

from synapse.api.errors import Codes, SynapseError
from synapse.server import HomeServer
from synapse.storage.invite_rule import InviteRule
from synapse.types import JsonDict

from msc_extensions._synapse_private.compat import Requester


class InviteChecks:
    """What ``update_membership`` asks before it creates an invite."""

    def __init__(self, hs: HomeServer) -> None:
        self._member_handler = hs.get_room_member_handler()
        self._store = hs.get_datastores().main
        self._spam_checker = hs.get_module_api_callbacks().spam_checker
        self._server_notices_mxid = hs.config.servernotices.server_notices_mxid
        self._block_non_admin_invites = hs.config.server.block_non_admin_invites

    def is_server_notices_user(self, user_id: str) -> bool:
        """(2) Whether ``user_id`` is this server's server notices user."""
        return (
            self._server_notices_mxid is not None
            and user_id == self._server_notices_mxid
        )

    async def ratelimit(self, requester: Requester, room_id: str, invitee: str) -> None:
        """(1) Take one invite from the ``rc_invites`` limits.

        Raises:
            LimitExceededError: 429 when a limit is reached.
        """
        await self._member_handler.ratelimit_invite(requester, room_id, invitee)

    async def check(
        self, requester: Requester, room_id: str, invitee: str, is_admin: bool
    ) -> None:
        """(2-5) The server-notices rule, ``block_non_admin_invites``, the
        ``user_may_invite`` spam check and the invitee's invite rules, in
        Synapse's order; server admins (and the server notices user) skip all but
        the first.

        Raises:
            SynapseError: 403 with Synapse's message and errcode.
        """
        if self.is_server_notices_user(invitee):
            raise SynapseError(HTTPStatus.FORBIDDEN, "Cannot invite this user")
        inviter = requester.user.to_string()
        if is_admin or self.is_server_notices_user(inviter):
            return
        refusal: tuple[str, JsonDict] | None = None
        if self._block_non_admin_invites:
            refusal = (Codes.FORBIDDEN, {})
        verdict = await self._spam_checker.user_may_invite(inviter, invitee, room_id)
        if verdict != self._spam_checker.NOT_SPAM:
            refusal = verdict
        if refusal is not None:
            raise SynapseError(
                403,
                "Invites have been disabled on this server",
                errcode=refusal[0],
                additional_fields=refusal[1],
            )
        invite_config = await self._store.get_invite_config_for_user(invitee)
        if invite_config.get_invite_rule(inviter) == InviteRule.BLOCK:
            raise SynapseError(
                403,
                "You are not permitted to invite this user.",
                errcode=Codes.INVITE_BLOCKED,
            )
