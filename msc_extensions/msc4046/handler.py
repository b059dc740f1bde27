"""What each of MSC4046's four endpoints does, once the servlet has authenticated
the request and read its input.

The client endpoints serve a room this server is in itself
(:class:`~msc_extensions.msc4046.local.LocalPdus`) and any other room through the
servers named in ``server_name`` (:class:`~msc_extensions.msc4046.resident.ResidentServers`).
The federation endpoints serve servers that are not in a room this server is in.
"""

import logging
from collections.abc import Sequence

from synapse.api.constants import EventTypes, Membership
from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.types import JsonDict, UserID

from msc_extensions._synapse_private.federation_answers import FederationAnswers
from msc_extensions._synapse_private.message_ratelimits import MessageRatelimits
from msc_extensions._synapse_private.pdu_acceptance import (
    PduAcceptance,
    ShadowBanError,
)
from msc_extensions._synapse_private.pdu_building import (
    EventBase,
    PduBuilding,
    RoomVersion,
)
from msc_extensions._synapse_private.requesters import Requester
from msc_extensions.msc4046.errors import (
    IncompatibleRoomVersionError,
    bad_state,
    caller_can_send_itself,
)
from msc_extensions.msc4046.local import LocalPdus, refuse_join_or_knock
from msc_extensions.msc4046.resident import (
    ResidentServers,
    TemplateSource,
    TemplateSources,
)
from msc_extensions.msc4046.templates import TemplateRequest
from msc_extensions.partial_state.service import PartialStateService

logger = logging.getLogger(__name__)


class Msc4046Handler:
    """Serves make_pdu and send_pdu for one homeserver process."""

    def __init__(
        self,
        hostname: str,
        local: LocalPdus,
        building: PduBuilding,
        acceptance: PduAcceptance,
        residents: ResidentServers,
        sources: TemplateSources,
        partial_state: PartialStateService,
        ratelimits: MessageRatelimits,
        federation_answers: FederationAnswers,
    ) -> None:
        self._hostname = hostname
        self._local = local
        self._building = building
        self._acceptance = acceptance
        self._residents = residents
        self._sources = sources
        self._partial_state = partial_state
        self._ratelimits = ratelimits
        self._answers = federation_answers

    # The client endpoints.
    async def make_pdu(
        self,
        requester: Requester,
        room_id: str,
        request: TemplateRequest,
        server_names: Sequence[str],
    ) -> JsonDict:
        user_id = requester.user.to_string()
        await self._ratelimits.ratelimit_named(requester)
        if await self._is_in_room(room_id):
            version = await self._local_room_version(room_id)
            return await self._local.template(room_id, version, user_id, request)
        if not self._residents.candidates(server_names):
            raise _not_here(room_id)
        server, answer = await self._residents.make_pdu(
            server_names, room_id, user_id, request
        )
        self._sources.remember(
            user_id, room_id, TemplateSource(server, answer["room_version"])
        )
        return answer

    async def send_pdu(
        self,
        requester: Requester,
        room_id: str,
        pdu: JsonDict,
        server_names: Sequence[str],
    ) -> JsonDict:
        user_id = requester.user.to_string()
        if pdu.get("sender") != user_id:
            raise SynapseError(
                403, "The event's sender is not the requesting user", Codes.FORBIDDEN
            )
        _check_room_id(pdu, room_id)
        refuse_join_or_knock(pdu)
        if await self._is_in_room(room_id):
            version = await self._local_room_version(room_id)
            event, context = await self._local.accept(pdu, room_id, version, sign=True)
            try:
                persisted = await self._acceptance.persist_local(
                    requester, event, context
                )
            except ShadowBanError:
                return {}
            if persisted != event.event_id:
                raise bad_state(
                    f"The event repeats the room's current state ({persisted}); "
                    "it was not sent"
                )
            return {}
        return await self._send_through_residents(requester, room_id, pdu, server_names)

    async def _send_through_residents(
        self,
        requester: Requester,
        room_id: str,
        pdu: JsonDict,
        server_names: Sequence[str],
    ) -> JsonDict:
        user_id = requester.user.to_string()
        source = self._sources.get(user_id, room_id)
        servers = self._residents.candidates(
            [source.server, *server_names] if source else server_names
        )
        if not servers:
            raise _not_here(room_id)
        version_id = await self._building.room_version_id(room_id)
        if version_id is None and source is not None:
            version_id = source.room_version
        if version_id is None:
            raise NotFoundError(
                f"Unknown room {room_id}: ask make_pdu for a template first"
            )
        version = self._building.known_room_version(version_id)
        if version is None:
            raise IncompatibleRoomVersionError(version_id)
        await self._ratelimits.ratelimit_send(requester)
        event = self._acceptance.event_from_json(pdu, version, sign=True)
        await self._acceptance.check_signatures(event, version, required=True)
        server = await self._residents.send_pdu(servers, room_id, event.get_pdu_json())
        logger.info("send_pdu of %s in %s went through %s", user_id, room_id, server)
        if _is_own_leave(event):
            # The resident never sends it back: store it as Synapse stores its own
            # remote rejections, so that the invite goes away here. The room has
            # the leave already, whatever happens to this copy.
            try:
                await self._acceptance.persist_out_of_band(event)
            except Exception:
                logger.exception(
                    "Could not store the leave %s of %s in %s out of band",
                    event.event_id,
                    user_id,
                    room_id,
                )
        return {}

    # The federation endpoints.
    async def federation_make_pdu(
        self,
        origin: str,
        room_id: str,
        user_id: str,
        request: TemplateRequest,
        supported_versions: Sequence[str],
    ) -> JsonDict:
        _check_user_of(origin, user_id)
        version = await self._resident_room_version(origin, room_id)
        if version.identifier not in supported_versions:
            raise IncompatibleRoomVersionError(version.identifier)
        return await self._local.template(room_id, version, user_id, request)

    async def federation_send_pdu(
        self, origin: str, room_id: str, pdu: JsonDict
    ) -> JsonDict:
        sender = pdu.get("sender")
        if not isinstance(sender, str):
            raise SynapseError(400, "The event has no sender", Codes.BAD_JSON)
        _check_user_of(origin, sender)
        _check_room_id(pdu, room_id)
        version = await self._resident_room_version(origin, room_id)
        if await self._building.is_host_joined(room_id, origin):
            raise caller_can_send_itself(origin, room_id)
        event, context = await self._local.accept(pdu, room_id, version, sign=False)
        await self._acceptance.persist_on_behalf_of(origin, event, context)
        logger.info("send_pdu from %s: %s in %s", origin, event.event_id, room_id)
        return {}

    # Shared.
    async def _is_in_room(self, room_id: str) -> bool:
        return await self._building.is_host_joined(room_id, self._hostname)

    async def _local_room_version(self, room_id: str) -> RoomVersion:
        await self._partial_state.refuse_if_partial(room_id)
        return await self._local.room_version(room_id)

    async def _resident_room_version(self, origin: str, room_id: str) -> RoomVersion:
        """The version of a room this server is in, for ``origin``: 404 when this
        server is not in it, 403 when its ACLs deny ``origin``."""
        if not await self._is_in_room(room_id):
            raise NotFoundError(f"This server is not in {room_id}")
        await self._answers.check_acl(origin, room_id)
        return await self._local_room_version(room_id)


def _not_here(room_id: str) -> NotFoundError:
    return NotFoundError(
        f"This server is not in {room_id}; name servers in it with server_name"
    )


def _check_room_id(pdu: JsonDict, room_id: str) -> None:
    if pdu.get("room_id") != room_id:
        raise SynapseError(
            400, "The event's room_id is not the room in the path", Codes.BAD_JSON
        )


def _check_user_of(origin: str, user_id: str) -> None:
    """403 unless ``user_id`` belongs to the calling server."""
    if UserID.from_string(user_id).domain != origin:
        raise SynapseError(
            403, f"{user_id} does not belong to {origin}", Codes.FORBIDDEN
        )


def _is_own_leave(event: EventBase) -> bool:
    return (
        event.type == EventTypes.Member
        and event.state_key == event.sender
        and event.content.get("membership") == Membership.LEAVE
    )
