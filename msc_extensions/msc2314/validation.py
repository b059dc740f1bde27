"""Checks on a room's state received from another server, before any of it is
trusted: MSC2314's security section (a malicious or buggy server may lie).

:func:`validate_state` refuses, with :class:`StateRefused` naming the server and
the event, a state in which:

- the room version is unknown, or differs from the one in ``m.room.create``;
- an event does not parse in the room's format, or belongs to another room;
- an event's signatures or content hash do not check out;
- the state has no ``m.room.create``, or two events for one (type, state key);
- an auth event of the state or of the auth chain is missing from the answer
  (and from what this server stored already);
- a state or auth-chain event fails the auth rules against its own auth events.
"""

from collections.abc import Callable, Iterable, Sequence

import attr
from synapse.api.constants import EventTypes
from synapse.module_api import EventBase
from synapse.types import JsonDict

from msc_extensions._synapse_private.pdu_checks import (
    EventChecks,
    RoomVersion,
    room_version_named,
)


class StateRefused(Exception):
    """A server's answer that cannot be trusted."""

    def __init__(self, server: str, reason: str, event_id: str | None = None) -> None:
        super().__init__(server, reason, event_id)
        self.server = server
        self.reason = reason
        self.event_id = event_id

    def __str__(self) -> str:
        about = f"event {self.event_id}: " if self.event_id else ""
        return f"{self.server}: {about}{self.reason}"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ValidatedState:
    """A room's state and its auth chain, every event checked."""

    server: str
    room_version: RoomVersion
    state: list[EventBase]
    auth_chain: list[EventBase]

    def state_map(self) -> dict[tuple[str, str], EventBase]:
        return {(e.type, e.state_key): e for e in self.state}


def room_version_of_answer(server: str, claimed: object) -> RoomVersion:
    room_version = room_version_named(claimed)
    if room_version is None:
        raise StateRefused(server, f"unknown room version {claimed!r}")
    return room_version


def parse_pdus(
    server: str,
    pdus: object,
    room_version: RoomVersion,
    checks: EventChecks,
) -> list[EventBase]:
    if not isinstance(pdus, list):
        raise StateRefused(server, "the answer lacks its list of events")
    events = []
    for index, pdu in enumerate(pdus):
        try:
            events.append(checks.parse(pdu, room_version))
        except ValueError as e:
            raise StateRefused(server, f"PDU #{index}: {e}") from None
    return events


async def validate_state(
    server: str,
    room_id: str,
    room_version: RoomVersion,
    state: Sequence[EventBase],
    auth_chain: Sequence[EventBase],
    stored: dict[str, EventBase],
    checks: EventChecks,
    on_validated: Callable[[int], None] = lambda n: None,
) -> ValidatedState:
    """Check ``state`` and ``auth_chain`` as received from ``server``; ``stored``
    are events of the answer that this server had accepted already (they are
    not checked again).

    Raises:
        StateRefused: the first problem found.
    """
    received = _dedupe([*state, *auth_chain])
    for event in received.values():
        if event.room_id != room_id:
            raise StateRefused(
                server, f"belongs to another room, {event.room_id}", event.event_id
            )
        if event.event_id in stored:
            continue
        problem = await checks.signature_problem(event, room_version)
        if problem is None:
            problem = checks.content_hash_problem(event)
        if problem is not None:
            raise StateRefused(server, problem, event.event_id)

    state_map: dict[tuple[str, str], EventBase] = {}
    for event in state:
        if not event.is_state():
            raise StateRefused(server, "not a state event", event.event_id)
        key = (event.type, event.state_key)
        if key in state_map and state_map[key].event_id != event.event_id:
            raise StateRefused(
                server, f"two events in the state for {key}", event.event_id
            )
        state_map[key] = event

    create = state_map.get((EventTypes.Create, ""))
    if create is None:
        raise StateRefused(server, "the state has no m.room.create event")
    created_as = create.content.get("room_version", "1")
    if created_as != room_version.identifier:
        raise StateRefused(
            server,
            f"the answer says room version {room_version.identifier} but "
            f"m.room.create says {created_as}",
            create.event_id,
        )

    events_by_id = {**stored, **received}
    for event in received.values():
        for auth_id in event.auth_event_ids():
            if auth_id not in events_by_id:
                raise StateRefused(
                    server, f"its auth event {auth_id} is missing", event.event_id
                )
    for event in received.values():
        problem = await checks.auth_problem(event, events_by_id)
        if problem is not None:
            raise StateRefused(
                server, f"fails the auth rules: {problem}", event.event_id
            )
        on_validated(1)

    state_ids = {e.event_id for e in state}
    return ValidatedState(
        server=server,
        room_version=room_version,
        state=list(state_map.values()),
        auth_chain=[e for i, e in received.items() if i not in state_ids],
    )


def _dedupe(events: Iterable[EventBase]) -> dict[str, EventBase]:
    return {e.event_id: e for e in events}


def state_ids_of(answer: JsonDict) -> tuple[list[str], list[str]] | None:
    """``pdu_ids`` and ``auth_chain_ids`` of a ``/state_ids`` answer; None when
    they are not lists of strings."""
    pdu_ids = answer.get("pdu_ids")
    auth_ids = answer.get("auth_chain_ids")
    for ids in (pdu_ids, auth_ids):
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return None
    assert isinstance(pdu_ids, list) and isinstance(auth_ids, list)
    return pdu_ids, auth_ids
