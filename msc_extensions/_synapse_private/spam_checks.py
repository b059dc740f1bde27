"""Private APIs for the spam and policy checks Synapse runs around event creation.

What this file relies on:

1. The spam-checker callbacks (``hs.get_module_api_callbacks().spam_checker``):
   ``user_may_send_state_event(user_id, room_id, event_type, state_key, content)``,
   which ``PUT /state`` asks before creating a state event, and
   ``check_event_for_spam(event)``; both answer ``NOT_SPAM`` or a refusal (an
   errcode, with or without extra response fields, or for the latter a legacy
   reason string).
2. ``RoomPolicyHandler`` (``hs.get_room_policy_handler()``):
   ``ask_policy_server_to_sign_event(event, verify=False)`` and
   ``is_event_allowed(event)``, the room policy server's say.
   ``create_and_send_nonmember_event`` runs these and ``check_event_for_spam``
   after creating an event, outside ``create_event``, so an event created any
   other way must run them itself.
"""

from synapse.api.errors import Codes, SynapseError
from synapse.events import EventBase
from synapse.server import HomeServer
from synapse.types import JsonDict

#: What Synapse answers when ``check_event_for_spam`` or the policy server refuses.
SPAM_MESSAGE = "This message has been rejected as probable spam"


class SpamChecks:
    """The spam checkers' and policy server's verdicts, as Synapse's errors."""

    def __init__(self, hs: HomeServer) -> None:
        self._spam_checker = hs.get_module_api_callbacks().spam_checker
        self._policy = hs.get_room_policy_handler()

    async def check_may_send_state_event(
        self,
        user_id: str,
        room_id: str,
        event_type: str,
        state_key: str,
        content: JsonDict,
    ) -> None:
        """The spam check ``PUT /state`` runs before creating a state event.
        Synapse exempts server admins; that is the caller's to decide.

        Raises:
            SynapseError: 403 with the spam checker's errcode and fields.
        """
        verdict = await self._spam_checker.user_may_send_state_event(
            user_id=user_id,
            room_id=room_id,
            event_type=event_type,
            state_key=state_key,
            content=dict(content),
        )
        if verdict != self._spam_checker.NOT_SPAM:
            raise SynapseError(
                403,
                "You are not permitted to send the state event",
                errcode=verdict[0],
                additional_fields=verdict[1],
            )

    async def check_created_event(self, event: EventBase) -> None:
        """The checks ``create_and_send_nonmember_event`` runs on an event it has
        created: the room's policy server, then ``check_event_for_spam``.

        Raises:
            SynapseError: 403 when either refuses the event.
        """
        await self._policy.ask_policy_server_to_sign_event(event, verify=False)
        if not await self._policy.is_event_allowed(event):
            raise SynapseError(403, SPAM_MESSAGE, Codes.FORBIDDEN)
        verdict = await self._spam_checker.check_event_for_spam(event)
        if verdict == self._spam_checker.NOT_SPAM:
            return
        if isinstance(verdict, tuple):
            code, fields = verdict
            raise SynapseError(403, SPAM_MESSAGE, code, fields)
        raise SynapseError(403, verdict, Codes.FORBIDDEN)
