"""What a make_pdu request asks for, read from its query parameters.

A client names the event type in the path (the federation endpoint in
``event_type``). The template is a state event when:

- the type is ``m.room.member``: its ``state_key`` is the user's ID unless the
  ``state_key`` parameter names another user, and ``membership`` (default ``join``)
  says which membership the auth events are selected for;
- the ``state_key`` parameter is given, for any type;
- the type is one of :data:`KNOWN_STATE_TYPES`: ``state_key`` ``""``, unless
  ``no_state_key=true`` asks for a template without one.

Any other type gives a template without ``state_key``.
"""

from collections.abc import Mapping, Sequence

import attr
from synapse.api.constants import EventTypes, Membership
from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import parse_boolean_from_args, parse_string_from_args
from synapse.types import JsonDict

from msc_extensions.msc4046.errors import (
    REFUSED_MEMBERSHIPS,
    membership_needs_its_own_api,
)

#: Event types the spec defines as state events.
KNOWN_STATE_TYPES = frozenset(
    {
        EventTypes.Create,
        EventTypes.Member,
        EventTypes.PowerLevels,
        EventTypes.JoinRules,
        EventTypes.RoomHistoryVisibility,
        EventTypes.GuestAccess,
        EventTypes.Name,
        EventTypes.Topic,
        EventTypes.RoomAvatar,
        EventTypes.CanonicalAlias,
        EventTypes.RoomEncryption,
        EventTypes.ServerACL,
        EventTypes.Tombstone,
        EventTypes.ThirdPartyInvite,
        EventTypes.Pinned,
    }
)

#: Memberships a template can be asked for.
MEMBERSHIPS = frozenset(
    {
        Membership.JOIN,
        Membership.LEAVE,
        Membership.INVITE,
        Membership.BAN,
        Membership.KNOCK,
    }
)

#: Synapse's limit on event types and state keys.
MAX_TYPE_LENGTH = 255

Args = Mapping[bytes, Sequence[bytes]]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TemplateRequest:
    event_type: str
    #: None: not a state event.
    state_key: str | None
    #: Only for ``m.room.member``.
    membership: str | None

    def fields(self, room_id: str, sender: str) -> JsonDict:
        """The fields an event builder needs; a membership template carries its
        membership, the only content the auth rules need to pick auth events."""
        fields: JsonDict = {
            "type": self.event_type,
            "room_id": room_id,
            "sender": sender,
            "content": {},
        }
        if self.state_key is not None:
            fields["state_key"] = self.state_key
        if self.membership is not None:
            fields["content"] = {"membership": self.membership}
        return fields


def parse_template_request(
    event_type: str, user_id: str, args: Args
) -> TemplateRequest:
    """The template asked for by ``user_id``, from the query parameters.

    Raises:
        SynapseError: 400 for a bad parameter, or a join or knock template (those
        have their own APIs).
    """
    _check_length("event type", event_type)
    if not event_type:
        raise SynapseError(400, "The event type is empty", Codes.INVALID_PARAM)
    state_key = parse_string_from_args(args, "state_key")
    no_state_key = parse_boolean_from_args(args, "no_state_key", default=False)
    membership = parse_string_from_args(args, "membership")
    if state_key is not None:
        _check_length("state_key", state_key)
        if no_state_key:
            raise SynapseError(
                400, "Give state_key or no_state_key, not both", Codes.INVALID_PARAM
            )
    if event_type != EventTypes.Member:
        if membership is not None:
            raise SynapseError(
                400, "membership applies to m.room.member only", Codes.INVALID_PARAM
            )
        if state_key is None and event_type in KNOWN_STATE_TYPES and not no_state_key:
            state_key = ""
        return TemplateRequest(event_type, state_key, None)
    if no_state_key:
        raise SynapseError(
            400, "An m.room.member event always has a state_key", Codes.INVALID_PARAM
        )
    membership = membership or Membership.JOIN
    if membership not in MEMBERSHIPS:
        raise SynapseError(
            400,
            "membership must be one of " + ", ".join(sorted(MEMBERSHIPS)),
            Codes.INVALID_PARAM,
        )
    if membership in REFUSED_MEMBERSHIPS:
        raise membership_needs_its_own_api(membership)
    return TemplateRequest(event_type, state_key or user_id, membership)


def _check_length(what: str, value: str) -> None:
    if len(value.encode()) > MAX_TYPE_LENGTH:
        raise SynapseError(
            400,
            f"The {what} is longer than {MAX_TYPE_LENGTH} bytes",
            Codes.INVALID_PARAM,
        )
