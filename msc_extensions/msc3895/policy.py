"""What MSC3895 asks of this server while a room is partial-state here.

- **The obligation to answer** ``/event`` and ``/event_auth``: for an event this
  server created, asked by a server the event was sent to. "Sent to" is
  approximated by the servers Synapse sends a partial-state room's events to: the
  servers in the room at join, plus those with a joined member in the room's current
  state as known here when the request arrives.
- **What** ``/hierarchy`` **may show**: what the state held here proves. The
  non-member state is complete, so a public, knockable or world-readable room is
  shown; the membership is an approximation, in which a joined member of the asking
  server is taken as proof, as Synapse's federation sender takes it for sending.

See docs/partial-state.md.
"""

from synapse.api.constants import EventTypes, HistoryVisibility, JoinRules
from synapse.module_api import EventBase
from synapse.types import UserID

from msc_extensions._synapse_private.partial_state_store import PartialStateStore
from msc_extensions.partial_state.service import PartialStateService

#: Join rules under which anyone may see a room's summary.
_OPEN_JOIN_RULES = (JoinRules.PUBLIC, JoinRules.KNOCK, JoinRules.KNOCK_RESTRICTED)


class AnswerPolicy:
    """Decides, per request, whether this server must or may answer while partial."""

    def __init__(
        self, server_name: str, rooms: PartialStateStore, service: PartialStateService
    ) -> None:
        self._server_name = server_name
        self._rooms = rooms
        self._service = service

    async def must_answer(self, origin: str, event_id: str) -> EventBase | None:
        """The event when MSC3895 obliges this server to answer ``origin`` about it
        despite partial state; None when Synapse's own answer stands.

        Raises:
            SynapseError: the MSC3895 refusal, when the event was created here but
                not sent to ``origin``.
        """
        event = await self._rooms.get_event(event_id)
        if event is None:
            return None
        if not await self._service.is_partial(event.room_id):
            return None
        if UserID.from_string(event.sender).domain != self._server_name:
            return None
        if origin not in await self._rooms.servers_believed_in_room(event.room_id):
            raise self._service.refusal(event.room_id)
        return event

    async def may_see_hierarchy(self, origin: str, room_id: str) -> bool:
        """Whether the state held here proves that ``origin`` may see the summary
        of ``room_id``, a partial-state room."""
        return await self._provably_open(
            room_id
        ) or await self._rooms.has_joined_member(room_id, origin)

    async def _provably_open(self, room_id: str) -> bool:
        """Whether any server may see the room's summary, from the non-member
        state, which is complete even while the room is partial-state."""
        state = await self._rooms.non_member_state(room_id)
        join_rules = state.get((EventTypes.JoinRules, ""))
        if (
            join_rules is not None
            and join_rules.content.get("join_rule") in _OPEN_JOIN_RULES
        ):
            return True
        visibility = state.get((EventTypes.RoomHistoryVisibility, ""))
        return (
            visibility is not None
            and visibility.content.get("history_visibility")
            == HistoryVisibility.WORLD_READABLE
        )
