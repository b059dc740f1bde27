"""make_pdu and send_pdu in a room this server is in: templates, and the checks a
PDU built elsewhere must pass before this server persists it.

The same checks serve this server's own users (the client endpoints) and users of
servers that are not in the room (the federation endpoints); only where the event
goes afterwards differs (:class:`~msc_extensions.msc4046.handler.Msc4046Handler`).
"""

from synapse.api.constants import EventTypes
from synapse.api.errors import AuthError, Codes, NotFoundError, SynapseError
from synapse.types import JsonDict

from msc_extensions._synapse_private.pdu_acceptance import EventContext, PduAcceptance
from msc_extensions._synapse_private.pdu_building import (
    EventBase,
    PduBuilding,
    RoomVersion,
)
from msc_extensions._synapse_private.spam_checks import SpamChecks
from msc_extensions.msc4046.errors import (
    REFUSED_MEMBERSHIPS,
    IncompatibleRoomVersionError,
    bad_state,
    membership_needs_its_own_api,
)
from msc_extensions.msc4046.templates import TemplateRequest


class LocalPdus:
    """Templates and accepted PDUs in rooms this server is in."""

    def __init__(
        self, building: PduBuilding, acceptance: PduAcceptance, spam: SpamChecks
    ) -> None:
        self._building = building
        self._acceptance = acceptance
        self._spam = spam

    async def room_version(self, room_id: str) -> RoomVersion:
        """The version of a room known here.

        Raises:
            NotFoundError: the room is unknown here.
            IncompatibleRoomVersionError: this server does not support it.
        """
        version_id = await self._building.room_version_id(room_id)
        if version_id is None:
            raise NotFoundError(f"Unknown room {room_id}")
        version = self._building.known_room_version(version_id)
        if version is None:
            raise IncompatibleRoomVersionError(version_id)
        return version

    async def template(
        self,
        room_id: str,
        room_version: RoomVersion,
        sender: str,
        request: TemplateRequest,
    ) -> JsonDict:
        """make_pdu's answer. The template is built as this server builds its own
        events, against the room's forward extremities.

        Raises:
            SynapseError: 403 when the auth rules, at the room's current state,
            refuse such an event with empty content.
        """
        event = await self._building.build(
            room_version, request.fields(room_id, sender)
        )
        try:
            await self._building.check_auth_rules(event)
        except AuthError as e:
            raise SynapseError(
                403,
                f"{sender} may not send {request.event_type} in {room_id}: {e.msg}",
                Codes.FORBIDDEN,
            ) from None
        return {
            "room_version": room_version.identifier,
            "pdu": self._building.template_of(event),
        }

    async def accept(
        self,
        pdu: JsonDict,
        room_id: str,
        room_version: RoomVersion,
        sign: bool,
    ) -> tuple[EventBase, EventContext]:
        """Check a filled-in template as every PDU received here is checked, and
        more strictly: its ``prev_events``, ``depth`` and ``auth_events`` must be
        what this server would have put there. With ``sign`` this server signs the
        event (its own user's). Nothing is stored.

        The caller has checked that the sender may send through this endpoint.

        Raises:
            SynapseError: 400 for a malformed or tampered PDU (``M_BAD_STATE`` when
            it does not fit the room here, or is soft-failed), 403 when the auth
            rules, third-party rules, policy server or spam checkers refuse it.
        """
        refuse_join_or_knock(pdu)
        event = self._acceptance.event_from_json(pdu, room_version, sign=sign)
        if event.room_id != room_id:
            raise SynapseError(
                400, "The event's room_id is not the room in the path", Codes.BAD_JSON
            )
        self._acceptance.validate_new(event)
        await self._acceptance.check_signatures(event, room_version, required=True)
        if await self._acceptance.event_exists(event.event_id):
            raise bad_state(f"The event ID {event.event_id} is already in use")
        await self._check_dag_position(event, room_version)
        context = await self._acceptance.compute_context(event)
        try:
            await self._building.check_auth_rules(event)
        except AuthError as e:
            raise SynapseError(403, e.msg, Codes.FORBIDDEN) from None
        if context.rejected:
            raise SynapseError(403, "The event was rejected", Codes.FORBIDDEN)
        if await self._acceptance.is_soft_failed(event, context):
            raise bad_state(
                "The event is soft-failed: the room's current state would not allow "
                "it; ask make_pdu for a fresh template"
            )
        if not await self._acceptance.third_party_rules_allow(event, context):
            raise SynapseError(
                403, "This event is not allowed in this context", Codes.FORBIDDEN
            )
        await self._spam.check_created_event(event)
        return event, context

    async def _check_dag_position(
        self, event: EventBase, room_version: RoomVersion
    ) -> None:
        """``prev_events`` must be in the room's timeline here; ``depth`` and
        ``auth_events`` exactly what this server computes from them. Synapse's own
        checks would accept a demoted user's event that pins the old power
        levels."""
        prev_event_ids = event.prev_event_ids()
        if not prev_event_ids:
            raise bad_state("The event has no prev_events")
        known = await self._acceptance.timeline_events(event.room_id, prev_event_ids)
        unknown = sorted(set(prev_event_ids) - known)
        if unknown:
            raise bad_state(
                "prev_events not in the room's timeline here: " + ", ".join(unknown)
            )
        expected = await self._building.build(
            room_version, _builder_fields(event), prev_event_ids=prev_event_ids
        )
        if event.depth != expected.depth:
            raise bad_state(
                f"depth {event.depth} does not follow the prev_events "
                f"(expected {expected.depth})"
            )
        if sorted(event.auth_event_ids()) != sorted(expected.auth_event_ids()):
            raise bad_state(
                "auth_events are not those the auth rules select from the state at "
                "prev_events; ask make_pdu for a fresh template"
            )


def refuse_join_or_knock(pdu: JsonDict) -> None:
    """Raise the 400 naming make_join/make_knock for a join or knock PDU."""
    if pdu.get("type") != EventTypes.Member:
        return
    content = pdu.get("content")
    membership = content.get("membership") if isinstance(content, dict) else None
    if membership in REFUSED_MEMBERSHIPS:
        assert isinstance(membership, str)
        raise membership_needs_its_own_api(membership)


def _builder_fields(event: EventBase) -> JsonDict:
    fields: JsonDict = {
        "type": event.type,
        "room_id": event.room_id,
        "sender": event.sender,
        "content": dict(event.content),
        "origin_server_ts": event.origin_server_ts,
    }
    if event.is_state():
        fields["state_key"] = event.state_key
    redacts = event.get("redacts")
    if redacts is not None:
        fields["redacts"] = redacts
    return fields
