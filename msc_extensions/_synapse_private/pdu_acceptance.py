"""Private APIs for accepting a PDU that someone else built: checking it as Synapse
checks PDUs it receives, and persisting it as Synapse persists its own users'
events, or events it sends on another server's behalf.

What this file relies on, and why:

1. ``synapse.crypto.event_signing``: ``compute_content_hash``,
   ``check_event_content_hash`` and ``compute_event_signature``: the content hash and
   this server's signature, as Synapse adds them to the events it creates.
2. ``synapse.federation.federation_base.event_from_pdu_json``: a PDU's JSON checked
   for the fields and format the room version requires (400 otherwise), and
   ``_check_sigs_on_pdu``: the signatures a received PDU must carry (its sender's
   server's, and in room versions 1 and 2 its event ID's).
3. ``Keyring.verify_event_for_server(server, event, 0)``: one server's signatures on
   an event; raises when none verifies.
4. ``EventValidator().validate_new(event, config)``: the checks Synapse makes on the
   events it creates (known content fields, lengths); raises ``SynapseError`` (400).
5. ``DataStore.get_event(event_id, allow_none=True, allow_rejected=True)`` and
   ``DataStore.get_events(event_ids)``: events known here, rejected ones included
   for the first, not for the second.
6. ``StateHandler.compute_event_context(event)``: the state before the event, at its
   prev events, as ``on_send_membership_event`` computes it.
7. ``FederationEventHandler._check_for_soft_fail(event, context, origin)``: the
   soft-fail check of received events against current state; it marks the event
   ``internal_metadata.soft_failed``. It does nothing in partial-state rooms.
8. ``hs.get_module_api_callbacks().third_party_event_rules.check_event_allowed``:
   the third-party rules ``create_new_client_event`` asks (``/send`` included).
9. ``EventCreationHandler.handle_new_client_event(requester, events_and_context,
   ratelimit=True)``: persists a local user's event, notifies clients, sends it to
   the room's other servers and applies ``rc_message`` as ``/send`` does. It answers
   a state event equal to current state with the existing event, persisting
   nothing; it raises ``ShadowBanError`` for a shadow-banned sender of a
   non-membership event. On a worker it hands the event to the event persister.
10. ``EventCreationHandler.cache_joined_hosts_for_events`` and
    ``FederationEventHandler._run_push_actions_and_persist_event(event, context)``
    with ``internal_metadata.send_on_behalf_of``: what ``on_send_membership_event``
    does to persist an event for a server that is not in the room and to send it to
    every other server of the room, never back to that one.
11. ``EventContext.for_outlier`` and ``FederationEventHandler.persist_events_and_notify``
    with ``internal_metadata.outlier`` and ``out_of_band_membership``: how Synapse's
    own remote invite rejection stores the leave on the rejecting server, which is
    not in the room.
"""

import hashlib
from collections.abc import Collection
from typing import Any

from synapse.api.errors import Codes, ShadowBanError, SynapseError
from synapse.api.room_versions import RoomVersion
from synapse.crypto.event_signing import (
    check_event_content_hash,
    compute_content_hash,
    compute_event_signature,
)
from synapse.events import EventBase
from synapse.events.snapshot import EventContext
from synapse.events.validator import EventValidator
from synapse.federation.federation_base import _check_sigs_on_pdu, event_from_pdu_json
from synapse.server import HomeServer
from synapse.types import JsonDict
from unpaddedbase64 import encode_base64

from msc_extensions._synapse_private.compat import Requester, signatures_of

__all__ = ["EventContext", "PduAcceptance", "ShadowBanError"]


class PduAcceptance:
    """Checks and persists PDUs built elsewhere, for one homeserver."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._hostname = hs.hostname
        self._signing_key = hs.signing_key
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main
        self._keyring = hs.get_keyring()
        self._state = hs.get_state_handler()
        self._federation_events = hs.get_federation_event_handler()
        self._creation = hs.get_event_creation_handler()
        self._third_party_rules = hs.get_module_api_callbacks().third_party_event_rules
        self._storage_controllers = hs.get_storage_controllers()

    # (1), (2)
    def event_from_json(
        self, pdu: JsonDict, room_version: RoomVersion, sign: bool
    ) -> EventBase:
        """The event ``pdu`` describes. Its ``hashes``, when given, must match its
        content; when missing they are added. With ``sign``, this server's signature
        is added unless present. ``pdu`` is not changed.

        Raises:
            SynapseError: 400 for a malformed PDU or a hash that does not match.
        """
        pdu = dict(pdu)
        if "hashes" in pdu:
            event = event_from_pdu_json(dict(pdu), room_version)
            if not check_event_content_hash(event):
                raise SynapseError(
                    400, "The event's hashes do not match its content", Codes.BAD_JSON
                )
        else:
            name, digest = compute_content_hash(pdu, hash_algorithm=hashlib.sha256)
            pdu["hashes"] = {name: encode_base64(digest)}
        signatures = pdu.get("signatures", {})
        if sign and self._hostname not in signatures:
            pdu["signatures"] = {
                **signatures,
                **compute_event_signature(
                    room_version, pdu, self._hostname, self._signing_key
                ),
            }
        return event_from_pdu_json(pdu, room_version)

    # (2), (3)
    async def check_signatures(
        self, event: EventBase, room_version: RoomVersion, required: bool
    ) -> None:
        """Every signature on the event must verify; with ``required``, also those
        a received PDU must carry.

        Raises:
            SynapseError: 400 naming the server whose signature does not verify.
        """
        own_key_id = f"{self._signing_key.alg}:{self._signing_key.version}"
        for server, by_key in signatures_of(event).items():
            if server == self._hostname and set(by_key) != {own_key_id}:
                raise SynapseError(
                    400,
                    f"The event is signed by {server} with a key it does not use",
                    Codes.BAD_JSON,
                )
            try:
                await self._keyring.verify_event_for_server(server, event, 0)
            except Exception as e:
                raise SynapseError(
                    400,
                    f"The event's signature by {server} does not verify: {e}",
                    Codes.BAD_JSON,
                ) from None
        if required:
            try:
                await _check_sigs_on_pdu(self._keyring, room_version, event)
            except Exception as e:
                raise SynapseError(400, str(e), Codes.BAD_JSON) from None

    # (4)
    def validate_new(self, event: EventBase) -> None:
        EventValidator().validate_new(event, self._hs.config)

    # (5)
    async def event_exists(self, event_id: str) -> bool:
        event = await self._store.get_event(
            event_id, allow_none=True, allow_rejected=True
        )
        return event is not None

    async def timeline_events(
        self, room_id: str, event_ids: Collection[str]
    ) -> set[str]:
        """Those of ``event_ids`` that are in the room's timeline here (accepted
        events, not outliers)."""
        events = await self._store.get_events(list(event_ids))
        return {
            event_id
            for event_id, event in events.items()
            if event.room_id == room_id and not event.internal_metadata.is_outlier()
        }

    # (6)
    async def compute_context(self, event: EventBase) -> EventContext:
        return await self._state.compute_event_context(event)

    # (7)
    async def is_soft_failed(self, event: EventBase, context: EventContext) -> bool:
        """Whether current state would soft-fail the event (its sender, say, was
        banned since the event's prev events)."""
        await self._federation_events._check_for_soft_fail(
            event, context=context, origin=self._hostname
        )
        return bool(event.internal_metadata.is_soft_failed())

    # (8)
    async def third_party_rules_allow(
        self, event: EventBase, context: EventContext
    ) -> bool:
        """The third-party rules' verdict. A replacement they offer is ignored: the
        PDU is signed as it is."""
        allowed, _ = await self._third_party_rules.check_event_allowed(event, context)
        return bool(allowed)

    # (9)
    async def persist_local(
        self, requester: Requester, event: EventBase, context: EventContext
    ) -> str:
        """Persist a local user's event as ``/send`` does. Returns the event ID that
        is now in the room: another one when the event repeated current state.

        Raises:
            ShadowBanError: the sender is shadow-banned (not for membership).
            LimitExceededError: over ``rc_message``.
        """
        persisted = await self._creation.handle_new_client_event(
            requester, events_and_context=[(event, context)], ratelimit=True
        )
        return persisted.event_id

    # (10)
    async def persist_on_behalf_of(
        self, origin: str, event: EventBase, context: EventContext
    ) -> None:
        """Persist an event of ``origin``'s, which is not in the room, and send it to
        the room's other servers."""
        event.internal_metadata.send_on_behalf_of = origin
        await self._creation.cache_joined_hosts_for_events([(event, context)])
        await self._federation_events._run_push_actions_and_persist_event(
            event, context
        )

    # (11)
    async def persist_out_of_band(self, event: EventBase) -> None:
        """Store a membership event of a local user in a room this server is not in,
        as Synapse stores its own remote invite rejections."""
        event.internal_metadata.outlier = True
        event.internal_metadata.out_of_band_membership = True
        context = EventContext.for_outlier(self._storage_controllers)
        await self._federation_events.persist_events_and_notify(
            event.room_id, [(event, context)]
        )
