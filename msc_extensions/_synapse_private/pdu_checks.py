"""Private APIs for asking other servers for a room's state and checking what they
answer before anything of it is trusted (MSC2314's requesting side).

What this file relies on, and why:

1. ``MatrixFederationHttpClient.get_json(destination, path, args=...)``
   (``hs.get_federation_http_client()``): signed outbound requests, with Synapse's
   name resolution, TLS and retry back-off. It raises ``HttpResponseException`` for
   a non-200 answer and ``RequestSendFailed`` / ``NotRetryingDestination`` when the
   server cannot be reached.
2. ``synapse.api.room_versions.KNOWN_ROOM_VERSIONS`` and
   ``synapse.federation.federation_base.event_from_pdu_json``: PDUs made into
   events in the format of a room version, as Synapse's federation client does.
3. ``synapse.federation.federation_base._check_sigs_on_pdu(keyring, room_version,
   pdu)``: the signature checks Synapse applies to every pulled event (the
   sender's server, and for v1/v2 rooms the event ID's server), raising
   ``InvalidEventSignatureError``.
4. ``synapse.crypto.event_signing.check_event_content_hash`` and
   ``synapse.events.utils.prune_event``: the content hash, and whether an event is
   already in its redacted form (a redacted event legitimately fails its hash).
5. ``synapse.event_auth.validate_event_for_room_version``,
   ``check_state_independent_auth_rules(store, event, batched_auth_events)`` and
   ``check_state_dependent_auth_rules(event, auth_events)``: the auth rules,
   against the auth events given (the store is consulted only for auth events
   missing from ``batched_auth_events``; callers check completeness first).
6. ``EventsWorkerStore.get_events(ids, allow_rejected=False)``: events this server
   stored and accepted already.
7. ``synapse.util.async_helpers.concurrently_execute``: a bounded number of
   requests at once, with Synapse's logcontexts kept.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from synapse.api.errors import SynapseError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.crypto.event_signing import check_event_content_hash
from synapse.event_auth import (
    check_state_dependent_auth_rules,
    check_state_independent_auth_rules,
    validate_event_for_room_version,
)
from synapse.events import EventBase
from synapse.events.utils import prune_event
from synapse.federation.federation_base import _check_sigs_on_pdu, event_from_pdu_json
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.async_helpers import concurrently_execute

__all__ = [
    "EventChecks",
    "RemoteStateClient",
    "RoomVersion",
    "room_version_named",
    "run_concurrently",
]


def room_version_named(identifier: object) -> RoomVersion | None:
    """(2) The room version called ``identifier``; None if Synapse knows none."""
    if not isinstance(identifier, str):
        return None
    return KNOWN_ROOM_VERSIONS.get(identifier)


async def run_concurrently(
    func: Callable[[str], Awaitable[None]], items: Sequence[str], limit: int
) -> None:
    """(7) ``func`` on every item, at most ``limit`` at once."""
    await concurrently_execute(func, items, limit)


class RemoteStateClient:
    """(1) GET requests to other servers' federation APIs."""

    def __init__(self, hs: HomeServer) -> None:
        self._http = hs.get_federation_http_client()

    async def get_json(
        self, destination: str, path: str, args: Mapping[str, str] | None = None
    ) -> JsonDict:
        query = {k: [v] for k, v in (args or {}).items()}
        answer: JsonDict = await self._http.get_json(destination, path, args=query)
        return answer


class EventChecks:
    """(2)-(6) Turning PDUs into events, and checking them."""

    def __init__(self, hs: HomeServer) -> None:
        self._keyring = hs.get_keyring()
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main

    @staticmethod
    def parse(pdu: object, room_version: RoomVersion) -> EventBase:
        """Raises ValueError when ``pdu`` is no event of ``room_version``."""
        if not isinstance(pdu, dict):
            raise ValueError("a PDU is not a JSON object")
        try:
            return event_from_pdu_json(pdu, room_version)
        except (SynapseError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(
                f"not an event of room version {room_version.identifier}: {e}"
            ) from None

    async def signature_problem(
        self, event: EventBase, room_version: RoomVersion
    ) -> str | None:
        """(3) Why the event's signatures do not check out; None when they do."""
        try:
            await _check_sigs_on_pdu(self._keyring, room_version, event)
        except Exception as e:
            return str(e) or type(e).__name__
        return None

    @staticmethod
    def content_hash_problem(event: EventBase) -> str | None:
        """(4) None when the content hash matches, or when the event is a redacted
        copy (whose hash cannot match, and whose signature was checked)."""
        if check_event_content_hash(event):
            return None
        if prune_event(event).get_pdu_json() == event.get_pdu_json():
            return None
        return "content hash does not match: the event was altered"

    async def auth_problem(
        self, event: EventBase, events_by_id: Mapping[str, EventBase]
    ) -> str | None:
        """(5) Why ``event`` fails the auth rules against its own auth events, all of
        which must be in ``events_by_id``; None when it passes."""
        try:
            validate_event_for_room_version(event)
            await check_state_independent_auth_rules(
                self._store, event, batched_auth_events=events_by_id
            )
            check_state_dependent_auth_rules(
                event, [events_by_id[i] for i in event.auth_event_ids()]
            )
        except SynapseError as e:
            return e.msg
        return None

    async def stored_events(self, event_ids: Iterable[str]) -> dict[str, EventBase]:
        """(6) The events among ``event_ids`` this server has stored and accepted."""
        events: dict[str, EventBase] = await self._store.get_events(
            list(event_ids), allow_rejected=False
        )
        return events
