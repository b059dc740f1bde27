"""Private APIs for invites of users on other servers, signed before a chain of
events is persisted.

Synapse's own invite path asks the invitee's server to sign an invite while it
persists it: ``persist_and_notify_client_events`` calls
``FederationHandler.send_invite`` for each remote invitee, one after another, and
one refusal fails every event persisted with it. A batch asks for these
signatures itself, several at once and each with a bounded wait, before it
persists its chain, and persists only the invites that came back signed.

What this file relies on:

1. ``FederationHandler.send_invite(target_host, event, context)``
   (``hs.get_federation_handler()``; before 1.162.0 without ``context``, see
   :func:`.compat.send_invite_for_signature`): sends ``PUT /invite`` (v2, then
   v1) to the invitee's server through Synapse's federation client, which signs
   the request, checks the signatures and hashes of the answer, and returns the
   signed event. It raises ``SynapseError``: 502 ``M_UNKNOWN`` ("Can't connect to
   server") when the server cannot be reached, the server's own status and
   errcode when it refuses, 403 ``M_FORBIDDEN`` for an answer with bad
   signatures.
2. ``EventContext.get_current_state_ids(state_filter)``: the one method of the
   context ``send_invite`` reads, to pick the state the invitee is shown
   (``invite_room_state``). The context given here answers it from the state the
   chain built in memory (:class:`ChainStateContext`), so nothing is stored
   before the chain is final. ``store.get_events`` then reads the events it
   picks, so they must be persisted already (:meth:`RemoteInvites.preview_shows`).
3. ``ApiConfig.room_prejoin_state`` (``hs.config.api``): the state keys shown to
   an invitee, besides the inviter's own membership (MSC4319).
4. ``EventBase.signatures.update(mapping)``: how Synapse adds the invitee
   server's signatures to its own event.
5. Several requests at once, each cancelled after its wait:
   :mod:`.bounded_calls`.
6. At persist time ``persist_and_notify_client_events`` calls
   ``FederationHandler.send_invite`` again for every remote invite, on the
   process that persists the event (the main process or an event persister).
   :meth:`RemoteInvites.install` makes that call return an event that the
   invitee's server has signed already as it is, so the server is not asked a
   second time and a refusal cannot fail the chain; every other invite is sent
   as before. The module must be loaded on that process too, as its docs say.
"""

import logging
from collections.abc import Sequence
from typing import Any

import attr
from synapse.api.constants import EventTypes
from synapse.api.errors import Codes, SynapseError
from synapse.events import EventBase
from synapse.server import HomeServer
from synapse.types import StateMap, UserID
from synapse.types.state import StateFilter

from msc_extensions._synapse_private.bounded_calls import concurrently, within
from msc_extensions._synapse_private.compat import (
    send_invite_for_signature,
    signatures_of,
)

logger = logging.getLogger(__name__)

#: Marks the wrapper :meth:`RemoteInvites.install` puts on a handler.
_WRAPPED = "_msc_extensions_signed_invites_pass"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ChainStateContext:
    """(2) The context of an event built in a chain, as far as ``send_invite``
    reads it: the state after the event, from memory."""

    state_after: StateMap[str]

    async def get_current_state_ids(
        self, state_filter: StateFilter | None = None
    ) -> StateMap[str]:
        if state_filter is None:
            return dict(self.state_after)
        return state_filter.filter_state(self.state_after)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class UnsignedInvite:
    """An invite of a remote user, built against ``state_before``."""

    event: EventBase
    state_before: StateMap[str]

    @property
    def destination(self) -> str:
        return UserID.from_string(self.event.state_key).domain


class RemoteInvites:
    """Asks other servers to sign invites of their users, and keeps Synapse from
    asking them again when the invites are persisted."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._store = hs.get_datastores().main
        self._clock = hs.get_clock()
        self._prejoin_state: StateFilter = hs.config.api.room_prejoin_state

    def install(self) -> None:
        """(6) Make this homeserver's ``send_invite`` return, unchanged, an invite
        its target server has signed already. Once per homeserver."""
        handler: Any = self._hs.get_federation_handler()
        send_invite = handler.send_invite
        if getattr(send_invite, _WRAPPED, False):
            return

        async def send_invite_unless_signed(
            target_host: str, event: EventBase, *args: Any, **kwargs: Any
        ) -> EventBase:
            if target_host in signatures_of(event):
                return event
            signed: EventBase = await send_invite(target_host, event, *args, **kwargs)
            return signed

        setattr(send_invite_unless_signed, _WRAPPED, True)
        handler.send_invite = send_invite_unless_signed

    def preview_shows(self, inviter: str, key: tuple[str, str]) -> bool:
        """(2, 3) Whether the state shown to the invitee of an invite sent by
        ``inviter`` includes the state event at ``key``: such an event must be
        persisted before the invite is persisted (Synapse reads the state it
        shows from stored events) or sent for signing."""
        if key == (EventTypes.Member, inviter):
            return True
        return bool(self._prejoin_state.filter_state({key: ""}))

    async def sign(
        self, invites: Sequence[UnsignedInvite], concurrency: int, timeout_ms: int
    ) -> list[SynapseError | None]:
        """Ask each invitee's server to sign its invite, ``concurrency`` at most
        at once, each waiting at most ``timeout_ms``, and add each server's
        signatures to its invite's event. Returns, in the order of ``invites``,
        None for an invite now signed, or why it is not.

        Raises nothing for an invite that fails: its error is in the list, 504
        ``M_UNKNOWN`` for a server that did not answer in time, 502 ``M_UNKNOWN``
        for one that cannot be reached, and for one that refused, its status and
        errcode as Synapse's own invite path reports them.
        """
        outcomes: list[SynapseError | None] = [None] * len(invites)

        async def sign_one(index: int) -> None:
            invite = invites[index]
            try:
                await self._sign(invite, timeout_ms)
            except SynapseError as e:
                outcomes[index] = e
            except Exception:
                logger.exception(
                    "Asking %s to sign invite %s",
                    invite.destination,
                    invite.event.event_id,
                )
                outcomes[index] = SynapseError(
                    502,
                    f"Failed to ask {invite.destination} to sign the invite",
                    Codes.UNKNOWN,
                )

        await concurrently(sign_one, range(len(invites)), concurrency)
        return outcomes

    async def _sign(self, invite: UnsignedInvite, timeout_ms: int) -> None:
        event = invite.event
        context = ChainStateContext(
            {**invite.state_before, (event.type, event.state_key): event.event_id}
        )
        signed = await within(
            self._clock,
            timeout_ms,
            lambda: send_invite_for_signature(
                self._hs, self._prejoin_state, invite.destination, event, context
            ),
            what=f"{invite.destination} did not sign the invite",
        )
        theirs = signatures_of(signed).get(invite.destination)
        if not theirs:
            raise SynapseError(
                403,
                f"{invite.destination} answered the invite without its signature",
                Codes.FORBIDDEN,
            )
        event.signatures.update({invite.destination: theirs})
