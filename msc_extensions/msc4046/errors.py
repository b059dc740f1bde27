"""The errors MSC4046's endpoints answer, beyond Synapse's own."""

from synapse.api.errors import Codes, IncompatibleRoomVersionError, SynapseError

__all__ = [
    "IncompatibleRoomVersionError",
    "bad_state",
    "caller_can_send_itself",
    "membership_needs_its_own_api",
    "unreachable",
]

#: The federation API each membership must use instead.
_MEMBERSHIP_APIS = {"join": "make_join/send_join", "knock": "make_knock/send_knock"}

#: Memberships that cannot go through make_pdu/send_pdu.
REFUSED_MEMBERSHIPS = frozenset(_MEMBERSHIP_APIS)


def bad_state(message: str) -> SynapseError:
    """400 ``M_BAD_STATE``: soft-failed, an event ID already in use, or a PDU that
    does not fit the room here (a stale or tampered template)."""
    return SynapseError(400, message, Codes.BAD_STATE)


def membership_needs_its_own_api(membership: str) -> SynapseError:
    """400 for a join or a knock: accepted this way, it would list the joining
    server in the room without giving it the room's state."""
    return SynapseError(
        400,
        f"A {membership} cannot be sent with send_pdu: the user's server must use "
        f"{_MEMBERSHIP_APIS[membership]}, which also hands it the room's state",
        Codes.INVALID_PARAM,
    )


def caller_can_send_itself(origin: str, room_id: str) -> SynapseError:
    """400 ``M_UNAUTHORIZED`` on the federation send_pdu: the calling server is in
    the room and can send the event itself."""
    return SynapseError(
        400,
        f"{origin} is in {room_id} and can send the event itself",
        Codes.UNAUTHORIZED,
    )


def unreachable(room_id: str, reasons: str) -> SynapseError:
    """502: no server that could serve the room answered."""
    return SynapseError(
        502,
        f"No server in {room_id} could be reached ({reasons})",
        Codes.UNKNOWN,
    )
