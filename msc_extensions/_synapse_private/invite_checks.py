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
6. ``DataStore.get_global_account_data_by_type_for_user(user_id, type)``, the
   ``@cached`` read behind ``get_invite_config_for_user``, of the
   ``account_data`` table (``user_id``, ``account_data_type``, ``content``, which
   it decodes with ``db_to_json``; no row or empty content: ``None``), for the
   account data types :func:`.compat.invite_rule_account_data_types` names. It
   is read for every invite, here and again by the push-rule evaluator when the
   invite is persisted: :meth:`InviteChecks.read_invite_rules` reads the rows of
   all a batch's invitees in one query per type into that cache
   (:mod:`.cache_priming`): a batch of 50 invites saves 50 database
   transactions for each type read, twice that when the inviter is not a
   server admin (whose invites :meth:`InviteChecks.check` checks against them).
"""

from collections.abc import Collection
from http import HTTPStatus

from synapse.api.errors import Codes, SynapseError
from synapse.server import HomeServer
from synapse.storage._base import db_to_json
from synapse.storage.invite_rule import InviteRule
from synapse.types import JsonDict, JsonMapping

from msc_extensions._synapse_private.cache_priming import CachePriming
from msc_extensions._synapse_private.compat import (
    Requester,
    invite_rule_account_data_types,
)

#: A key of ``get_global_account_data_by_type_for_user``: (user ID, type).
_AccountDataKey = tuple[str, str]


class InviteChecks:
    """What ``update_membership`` asks before it creates an invite."""

    def __init__(self, hs: HomeServer) -> None:
        self._member_handler = hs.get_room_member_handler()
        self._store = hs.get_datastores().main
        self._spam_checker = hs.get_module_api_callbacks().spam_checker
        self._server_notices_mxid = hs.config.servernotices.server_notices_mxid
        self._block_non_admin_invites = hs.config.server.block_non_admin_invites
        self._invite_rule_types = invite_rule_account_data_types(hs)
        self._account_data: CachePriming[_AccountDataKey, JsonMapping | None] = (
            CachePriming(
                self._store.get_global_account_data_by_type_for_user,
                self._read_account_data,
                absent=None,
            )
        )

    def is_server_notices_user(self, user_id: str) -> bool:
        """(2) Whether ``user_id`` is this server's server notices user."""
        return (
            self._server_notices_mxid is not None
            and user_id == self._server_notices_mxid
        )

    async def read_invite_rules(self, invitees: Collection[str]) -> None:
        """(6) Read the invite rules of ``invitees`` in one query per account data
        type, into the cache that :meth:`check` and Synapse's push-rule evaluator
        read them from."""
        await self._account_data.prime(
            [
                (invitee, type_)
                for invitee in invitees
                for type_ in self._invite_rule_types
            ]
        )

    async def _read_account_data(
        self, keys: Collection[_AccountDataKey]
    ) -> dict[_AccountDataKey, JsonMapping | None]:
        found: dict[_AccountDataKey, JsonMapping | None] = {}
        for type_ in {type_ for _, type_ in keys}:
            rows = await self._store.db_pool.simple_select_many_batch(
                table="account_data",
                column="user_id",
                iterable={user_id for user_id, key_type in keys if key_type == type_},
                retcols=("user_id", "content"),
                keyvalues={"account_data_type": type_},
                desc="msc3192_read_invite_rules",
            )
            for user_id, content in rows:
                found[(user_id, type_)] = db_to_json(content) if content else None
        return found

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
