"""The requesting side: a room's state fetched from other servers and checked.

For each server in turn (:meth:`PartialStateService.first_answer`: a server that
fails, or answers with the MSC3895 code, is passed over for the next):

1. ``/state_ids`` (the unstable path first, then v1): the event IDs;
2. the events this server lacks: one by one through ``/event`` when they are few,
   or the whole ``/state`` answer when they are many;
3. every event checked (:func:`~msc_extensions.msc2314.validation.validate_state`).

Nothing is stored: the caller decides what to do with a :class:`ValidatedState`.
"""

from collections.abc import Iterable, Sequence
from urllib.parse import quote

import attr
from synapse.api.errors import HttpResponseException
from synapse.module_api import EventBase
from synapse.types import JsonDict

from msc_extensions._synapse_private.pdu_checks import (
    EventChecks,
    RemoteStateClient,
    RoomVersion,
    run_concurrently,
)
from msc_extensions.msc2314.servlets import UNSTABLE_PREFIX, V1_PREFIX
from msc_extensions.msc2314.validation import (
    StateRefused,
    ValidatedState,
    parse_pdus,
    room_version_of_answer,
    state_ids_of,
    validate_state,
)
from msc_extensions.partial_state.service import PartialStateService

#: Up to this many missing events are fetched one by one; more, and the whole
#: ``/state`` answer is fetched instead.
MAX_SINGLE_FETCHES = 50
#: Concurrent ``/event`` requests to one server.
FETCH_CONCURRENCY = 10


@attr.s(slots=True, auto_attribs=True)
class FetchProgress:
    """What a fetch has done so far (read by the recovery's status)."""

    events_fetched: int = 0
    events_validated: int = 0


class CurrentStateFetcher:
    """Fetches a room's state from a list of servers."""

    def __init__(
        self,
        remote: RemoteStateClient,
        checks: EventChecks,
        partial_state: PartialStateService,
    ) -> None:
        self._remote = remote
        self._checks = checks
        self._partial_state = partial_state

    async def fetch_current(
        self,
        room_id: str,
        servers: Iterable[str],
        progress: FetchProgress | None = None,
    ) -> ValidatedState:
        """The room's current state, from the first server that gives one that
        checks out.

        Raises:
            DestinationsExhausted: no server did; its message names each server
                and why.
        """
        progress = progress or FetchProgress()
        _, state = await self._partial_state.first_answer(
            servers, lambda server: self._fetch(server, room_id, None, None, progress)
        )
        return state

    async def fetch_before(
        self,
        room_id: str,
        server: str,
        event_id: str,
        room_version: RoomVersion,
        progress: FetchProgress | None = None,
    ) -> ValidatedState:
        """The state before ``event_id`` (Synapse's ``/state_ids?event_id=``)."""
        return await self._fetch(
            server, room_id, event_id, room_version, progress or FetchProgress()
        )

    async def fetch_event(
        self, room_id: str, server: str, event_id: str, room_version: RoomVersion
    ) -> EventBase:
        """One event of the room, its signatures and hash checked."""
        (event,) = await self._get_events(server, [event_id], room_version)
        if event.room_id != room_id or event.event_id != event_id:
            raise StateRefused(server, f"answered another event for {event_id}")
        problem = await self._checks.signature_problem(event, room_version)
        if problem is None:
            problem = self._checks.content_hash_problem(event)
        if problem is not None:
            raise StateRefused(server, problem, event_id)
        return event

    async def _fetch(
        self,
        server: str,
        room_id: str,
        event_id: str | None,
        room_version: RoomVersion | None,
        progress: FetchProgress,
    ) -> ValidatedState:
        args = {"event_id": event_id} if event_id else None
        answer = await self._get(server, f"/state_ids/{quote(room_id, safe='')}", args)
        ids = state_ids_of(answer)
        if ids is None:
            raise StateRefused(server, "malformed /state_ids answer")
        state_ids, auth_ids = ids
        if room_version is None or "room_version" in answer:
            claimed = room_version_of_answer(server, answer.get("room_version"))
            if room_version is not None and claimed != room_version:
                raise StateRefused(
                    server,
                    f"the answer says room version {claimed.identifier}, "
                    f"the room is {room_version.identifier}",
                )
            room_version = claimed

        wanted = list(dict.fromkeys([*state_ids, *auth_ids]))
        stored = await self._checks.stored_events(wanted)
        missing = [i for i in wanted if i not in stored]
        if len(missing) > MAX_SINGLE_FETCHES:
            state, auth_chain = await self._whole_state(
                server, room_id, args, room_version
            )
            fetched = {e.event_id: e for e in [*state, *auth_chain]}
        else:
            fetched = {
                e.event_id: e
                for e in await self._get_events(server, missing, room_version)
            }
        progress.events_fetched += len(fetched)
        by_id = {**stored, **fetched}
        for i in missing:
            if i not in by_id:
                raise StateRefused(server, "not in the answer", i)
        # The state is what /state_ids named, whatever else /state carried.
        state = [by_id[i] for i in state_ids]
        auth_chain = [by_id[i] for i in auth_ids if i in by_id]

        def on_validated(n: int) -> None:
            progress.events_validated += n

        return await validate_state(
            server,
            room_id,
            room_version,
            state,
            auth_chain,
            stored,
            self._checks,
            on_validated,
        )

    async def _whole_state(
        self,
        server: str,
        room_id: str,
        args: dict[str, str] | None,
        room_version: RoomVersion,
    ) -> tuple[list[EventBase], list[EventBase]]:
        answer = await self._get(server, f"/state/{quote(room_id, safe='')}", args)
        if "room_version" in answer:
            claimed = room_version_of_answer(server, answer["room_version"])
            if claimed != room_version:
                raise StateRefused(
                    server,
                    f"/state says room version {claimed.identifier}, "
                    f"/state_ids says {room_version.identifier}",
                )
        return (
            parse_pdus(server, answer.get("pdus"), room_version, self._checks),
            parse_pdus(server, answer.get("auth_chain"), room_version, self._checks),
        )

    async def _get_events(
        self, server: str, event_ids: Sequence[str], room_version: RoomVersion
    ) -> list[EventBase]:
        events: list[EventBase] = []

        async def get_one(event_id: str) -> None:
            answer = await self._remote.get_json(
                server, f"{V1_PREFIX}/event/{quote(event_id, safe='')}"
            )
            pdus = parse_pdus(server, answer.get("pdus"), room_version, self._checks)
            if len(pdus) != 1 or pdus[0].event_id != event_id:
                raise StateRefused(server, "/event answered another event", event_id)
            events.append(pdus[0])

        await run_concurrently(get_one, event_ids, FETCH_CONCURRENCY)
        return events

    async def _get(
        self, server: str, path: str, args: dict[str, str] | None
    ) -> JsonDict:
        """The unstable path first when no event is named; v1 when the server
        does not know the unstable one (or always, when an event is named)."""
        if args is None:
            try:
                return await self._remote.get_json(server, UNSTABLE_PREFIX + path)
            except HttpResponseException as e:
                if e.code not in (400, 404, 405):
                    raise
        return await self._remote.get_json(server, V1_PREFIX + path, args)
