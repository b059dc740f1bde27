"""Private APIs for the profile fields of a membership event.

``RoomMemberHandler.update_membership_locked`` shapes the content of every
membership event before creating it; a batch of membership events shapes each
one the same way.

What this file relies on:

1. ``ServerConfig.allow_per_room_profiles``: when off, profile fields given in
   the content are dropped (the server notices user and shadow-banned users are
   treated as Synapse treats them), and the global profile is filled in instead.
2. ``synapse.handlers.profile.MAX_DISPLAYNAME_LEN`` and ``MAX_AVATAR_URL_LEN``,
   and ``ProfileHandler.check_avatar_size_and_mime_type(mxc)``.
3. ``synapse.api.constants.EventContentFields.AUTHORISING_USER``, which a client
   may not set.
4. ``ServerConfig.include_profile_data_on_invite``: invites, like joins and
   knocks, carry the target's global profile (``ProfileHandler.get_displayname``
   and ``get_avatar_url``), where the content has none; a failed look-up leaves
   the field out.
5. For users of this server, those two read the ``profiles`` table
   (``full_user_id``, ``displayname``, ``avatar_url``; no row: 404, so no
   field) and nothing else: :meth:`MemberProfiles.read_local` reads the rows of
   many users in one query instead (``DatabasePool.simple_select_many_batch``),
   which is what a batch of 50 invites saves 98 database transactions with.
6. For users of other servers, those two ask the user's server over federation
   (``make_query``, with ``ignore_backoff``), with no cache: one request each, and
   a server that cannot be reached costs Synapse's retries (seconds).
   ``ProfileHandler.get_profile(user_id, ignore_backoff=True)`` asks once for the
   whole profile (``/query/profile`` without ``field``; every field the server
   has, a field it does not have left out) and raises on any failure
   (``SynapseError``: 502 when unreachable, the remote's error otherwise).
   :meth:`MemberProfiles.read_remote` asks that for many users at once, each
   request with a bounded wait (:mod:`.bounded_calls`): one request per user
   instead of ``update_membership``'s two, and a failed one leaves both fields
   out.
"""

import logging
from collections.abc import Collection, Mapping
from typing import Protocol, cast

import attr
from synapse.api.constants import EventContentFields, Membership
from synapse.api.errors import Codes, SynapseError
from synapse.handlers.profile import MAX_AVATAR_URL_LEN, MAX_DISPLAYNAME_LEN
from synapse.server import HomeServer
from synapse.types import JsonDict, UserID

from msc_extensions._synapse_private.bounded_calls import concurrently, within
from msc_extensions._synapse_private.compat import Requester

logger = logging.getLogger(__name__)


class _CachedAvatarCheck(Protocol):
    """A cached handler method, typed as called."""

    async def check_avatar_size_and_mime_type(self, mxc: str) -> bool: ...


@attr.s(frozen=True, slots=True, auto_attribs=True)
class LocalProfiles:
    """The global profiles of some users, read at once (those of this server
    from the database, the others over federation)."""

    #: The users read: those without a profile are read too, and have none.
    read: frozenset[str] = frozenset()
    #: (display name, avatar URL) of those with a profile.
    profiles: Mapping[str, tuple[str | None, str | None]] = attr.Factory(dict)

    def merged(self, other: "LocalProfiles") -> "LocalProfiles":
        return LocalProfiles(
            read=self.read | other.read,
            profiles={**self.profiles, **other.profiles},
        )


class MemberProfiles:
    """The content of a membership event, as ``update_membership`` makes it."""

    def __init__(self, hs: HomeServer) -> None:
        self._profile = hs.get_profile_handler()
        self._db_pool = hs.get_datastores().main.db_pool
        self._server_name = hs.hostname
        self._clock = hs.get_clock()
        self._avatar_check = cast(_CachedAvatarCheck, self._profile)
        self._allow_per_room_profiles = hs.config.server.allow_per_room_profiles
        self._with_profile = {Membership.JOIN, Membership.KNOCK}
        if hs.config.server.include_profile_data_on_invite:
            self._with_profile.add(Membership.INVITE)

    async def content_for(
        self,
        requester: Requester,
        target: str,
        membership: str,
        content: JsonDict,
        requester_is_server_notices_user: bool,
        known: LocalProfiles,
    ) -> JsonDict:
        """A copy of ``content`` with Synapse's profile rules applied for a
        ``membership`` event about ``target``, whose profile is taken from
        ``known`` if it was read there.

        Raises:
            SynapseError: 400 ``M_BAD_JSON`` for a profile field over Synapse's
                length limits, 403 for an avatar the server does not allow.
        """
        content = dict(content)
        if (
            not self._allow_per_room_profiles and not requester_is_server_notices_user
        ) or requester.shadow_banned:
            content.pop("displayname", None)
            content.pop("avatar_url", None)
        if len(content.get("displayname") or "") > MAX_DISPLAYNAME_LEN:
            raise SynapseError(
                400,
                f"Displayname is too long (max {MAX_DISPLAYNAME_LEN})",
                errcode=Codes.BAD_JSON,
            )
        if len(content.get("avatar_url") or "") > MAX_AVATAR_URL_LEN:
            raise SynapseError(
                400,
                f"Avatar URL is too long (max {MAX_AVATAR_URL_LEN})",
                errcode=Codes.BAD_JSON,
            )
        if content.get("avatar_url") is not None:
            if not await self._avatar_check.check_avatar_size_and_mime_type(
                content["avatar_url"]
            ):
                raise SynapseError(403, "This avatar is not allowed", Codes.FORBIDDEN)
        content.pop(EventContentFields.AUTHORISING_USER, None)
        if membership in self._with_profile:
            if target in known.read:
                _fill_in(content, *known.profiles.get(target, (None, None)))
            else:
                await self._fill_in_profile(UserID.from_string(target), content)
        return content

    def needs_profile(self, membership: str) -> bool:
        """Whether a ``membership`` event carries the target's profile."""
        return membership in self._with_profile

    async def read_local(self, user_ids: Collection[str]) -> LocalProfiles:
        """(5) The global profiles of those of ``user_ids`` on this server, in one
        query."""
        local = {
            user_id
            for user_id in user_ids
            if UserID.from_string(user_id).domain == self._server_name
        }
        if not local:
            return LocalProfiles()
        rows = await self._db_pool.simple_select_many_batch(
            table="profiles",
            column="full_user_id",
            iterable=local,
            retcols=("full_user_id", "displayname", "avatar_url"),
            desc="msc3192_read_local_profiles",
        )
        return LocalProfiles(
            read=frozenset(local),
            profiles={user_id: (name, avatar) for user_id, name, avatar in rows},
        )

    async def read_remote(
        self, user_ids: Collection[str], concurrency: int, timeout_ms: int
    ) -> LocalProfiles:
        """(6) The global profiles of those of ``user_ids`` on other servers,
        ``concurrency`` users at most at once, each request waiting at most
        ``timeout_ms``. A user whose server fails to answer has no profile, as
        in ``update_membership``."""
        remote = sorted(
            {
                user_id
                for user_id in user_ids
                if UserID.from_string(user_id).domain != self._server_name
            }
        )
        profiles: dict[str, tuple[str | None, str | None]] = {}

        async def read_one(user_id: str) -> None:
            target = UserID.from_string(user_id)
            try:
                profile = await within(
                    self._clock,
                    timeout_ms,
                    lambda: self._profile.get_profile(user_id, ignore_backoff=True),
                    what=f"{target.domain} did not answer a profile query",
                )
            except Exception as e:
                logger.info("Failed to get profile information for %r: %s", target, e)
                return
            profiles[user_id] = (
                _text_field(profile, "displayname"),
                _text_field(profile, "avatar_url"),
            )

        await concurrently(read_one, remote, concurrency)
        return LocalProfiles(read=frozenset(remote), profiles=profiles)

    async def _fill_in_profile(self, target: UserID, content: JsonDict) -> None:
        try:
            if "displayname" not in content:
                displayname = await self._profile.get_displayname(target)
                if displayname is not None:
                    content["displayname"] = displayname
            if "avatar_url" not in content:
                avatar_url = await self._profile.get_avatar_url(target)
                if avatar_url is not None:
                    content["avatar_url"] = avatar_url
        except Exception as e:
            logger.info("Failed to get profile information for %r: %s", target, e)


def _text_field(profile: object, name: str) -> str | None:
    """Field ``name`` of a profile another server answered, if it gave one as a
    string."""
    value = profile.get(name) if isinstance(profile, dict) else None
    return value if isinstance(value, str) else None


def _fill_in(
    content: JsonDict, displayname: str | None, avatar_url: str | None
) -> None:
    """As :meth:`MemberProfiles._fill_in_profile`, from a profile already read."""
    if "displayname" not in content and displayname is not None:
        content["displayname"] = displayname
    if "avatar_url" not in content and avatar_url is not None:
        content["avatar_url"] = avatar_url
