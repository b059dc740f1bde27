"""The looping call that brings stalled partial-state rooms back to full state.

Synapse resyncs a partial-state room once, at join (and again at start-up); when
every server it tries fails, it gives up and the room stays partial until the next
restart. This scheduler, on the main process only (where Synapse runs its resync):

- observes every resync Synapse runs, its own and those started here, and keeps per
  room: attempts, the last error, the time of the next attempt;
- every tick, starts Synapse's resync for each partial-state room that has none
  running and whose next attempt is due; never a second one for a room;
- backs off per room: ``resync_interval`` after the first failure, doubling up to
  ``max_resync_interval``;
- asks the servers in the room at join *and* those with a joined member in the room's
  current state as known now, preferring ``joined_via``, then servers not in
  Synapse's retry back-off;
- when every destination is in Synapse's retry back-off, probes them (ignoring that
  back-off) before starting, since a resync would otherwise fail at once without
  trying; a successful probe clears Synapse's back-off;
- when Synapse sees a destination alive again (a signed request from it, or a
  request to it that succeeded), makes the rooms that destination serves due at
  once, but never sooner than ``resync_interval`` after their previous attempt.
"""

import logging
from collections.abc import Iterable

from synapse.module_api import ModuleApi

from msc_extensions._synapse_private.destinations import Destinations
from msc_extensions._synapse_private.partial_state_store import (
    PartialStateRoom,
    PartialStateStore,
)
from msc_extensions.msc3902.backoff import next_delay_ms
from msc_extensions.msc3902.config import Msc3902Config
from msc_extensions.msc3902.failures import describe, unreachable
from msc_extensions.msc3902.metrics import ResyncMetrics
from msc_extensions.msc3902.rooms import RoomResyncState
from msc_extensions.partial_state.errcodes import DestinationsExhausted
from msc_extensions.partial_state.service import PartialStateService

logger = logging.getLogger(__name__)

#: How long a probe of a backed-off destination may take.
PROBE_TIMEOUT_MS = 10_000


def tick_period_ms(config: Msc3902Config) -> int:
    """How often the loop looks for due rooms: a quarter of the interval, between
    a quarter of a second and 15 seconds."""
    return max(250, min(config.resync_interval_ms // 4, 15_000))


class ResyncScheduler:
    def __init__(
        self,
        api: ModuleApi,
        partial_state: PartialStateService,
        rooms: PartialStateStore,
        destinations: Destinations,
        config: Msc3902Config,
        metrics: ResyncMetrics,
    ) -> None:
        self._api = api
        self._partial_state = partial_state
        self._store = rooms
        self._destinations = destinations
        self._config = config
        self._metrics = metrics
        self._rooms: dict[str, RoomResyncState] = {}
        self._starting: set[str] = set()
        self._aborted: set[str] = set()
        self._tick_running = False
        self._last_probe_ms: dict[str, int] = {}

    def _now(self) -> int:
        return self._api.get_current_time_msec()

    def start(self) -> None:
        """Hook into Synapse's resync and start the looping call (main process)."""
        self._partial_state.observe_resyncs(self)
        self._partial_state.on_remote_server_up(self.on_remote_server_up)
        self._api.looping_background_call(
            self.tick,
            tick_period_ms(self._config),
            desc="msc3902_partial_state_resync",
            run_on_all_instances=True,
        )

    # The loop.
    async def tick(self) -> None:
        if self._tick_running:
            return
        self._tick_running = True
        try:
            await self._tick()
        finally:
            self._tick_running = False

    async def _tick(self) -> None:
        rooms = await self.refresh()
        now = self._now()
        for room in rooms.values():
            state = self._rooms.get(room.room_id)
            if state is None or self._partial_state.resync_running(room.room_id):
                continue
            if now >= state.next_attempt_ms:
                try:
                    await self.start_resync(room)
                except Exception:
                    logger.exception("Could not start a resync of %s", room.room_id)
        await self._probe_unreachable_destinations()

    async def _probe_unreachable_destinations(self) -> None:
        """Rooms waiting out their back-off because no server could be reached at
        all: probe those servers once per interval, so that a server that comes
        back without telling us is found within an interval, not at the room's
        next attempt (up to ``max_resync_interval`` away). Rooms whose servers
        answered (with an error) keep their exponential back-off."""
        now = self._now()
        interval = self._config.resync_interval_ms
        waiting = [
            s
            for s in self._rooms.values()
            if s.unreachable
            and not s.running
            and now < s.next_attempt_ms
            and not self._partial_state.resync_running(s.room_id)
        ]
        destinations = sorted({d for s in waiting for d in s.destinations})
        for destination in destinations:
            if now - self._last_probe_ms.get(destination, 0) < interval:
                continue
            self._last_probe_ms[destination] = now
            try:
                await self._destinations.probe(destination, PROBE_TIMEOUT_MS)
            except Exception as e:
                logger.debug("Probe of %s failed: %s", destination, e)
                continue
            # Reachable again (the probe cleared any Synapse back-off).
            logger.info(
                "%s answers again; its partial-state rooms are due", destination
            )
            self.on_remote_server_up(destination)

    async def refresh(self) -> dict[str, PartialStateRoom]:
        """Read the partial-state rooms; forget rooms that are no longer partial."""
        read_at = self._now()
        rooms = await self._store.partial_state_rooms()
        for room_id, state in list(self._rooms.items()):
            # A resync that started while the table was read belongs to a room
            # joined just now: keep it.
            started_since = (state.last_attempt_ms or 0) >= read_at
            if room_id not in rooms and not state.running and not started_since:
                del self._rooms[room_id]
        now = self._now()
        for room in rooms.values():
            known = self._rooms.get(room.room_id)
            if known is not None and known.join_time_ms is None:
                # First seen when Synapse's own resync started, or the join event
                # was not recorded yet.
                known.joined_via = room.joined_via
                known.join_time_ms = await self._store.join_time_ms(room.room_id)
            if known is None:
                # A room first seen here: Synapse has just started its own resync,
                # or gave up on it before this process started. Give it one interval.
                self._rooms[room.room_id] = RoomResyncState(
                    room.room_id,
                    room.joined_via,
                    next_attempt_ms=now + self._config.resync_interval_ms,
                    join_time_ms=await self._store.join_time_ms(room.room_id),
                )
        join_times = [
            state.join_time_ms
            for room_id, state in self._rooms.items()
            if room_id in rooms and state.join_time_ms is not None
        ]
        self._metrics.set_partial_state_rooms(
            len(rooms), min(join_times) if join_times else None
        )
        return rooms

    async def destinations_for(self, room: PartialStateRoom) -> list[str]:
        """Every server believed in the room, best first: ``joined_via``, then
        servers not in Synapse's retry back-off, then those that are."""
        believed = await self._store.servers_believed_in_room(room.room_id)
        candidates = set(believed) | set(room.servers_at_join)
        if room.joined_via:
            candidates.add(room.joined_via)
        candidates.discard(self._api.server_name)
        up: list[str] = []
        down: list[str] = []
        for destination in sorted(candidates):
            until = await self._destinations.backed_off_until_ms(destination)
            (down if until else up).append(destination)
        for group in (up, down):
            if room.joined_via in group:
                group.remove(room.joined_via)
                group.insert(0, room.joined_via)
        return up + down

    async def start_resync(self, room: PartialStateRoom) -> bool:
        """Start Synapse's resync of ``room`` now, unless one is running. Returns
        whether one was started."""
        room_id = room.room_id
        if room_id in self._starting or self._partial_state.resync_running(room_id):
            return False
        self._starting.add(room_id)
        try:
            state = self._state_of(room)
            destinations = await self.destinations_for(room)
            state.destinations = frozenset(destinations)
            if not destinations:
                self._record_failure(state, "no server is known to be in the room")
                return False
            reachable = await self._first_reachable(destinations)
            if reachable is None:
                self._record_failure(
                    state,
                    "every server in the room is in retry back-off and did not "
                    "answer a probe: " + ", ".join(destinations),
                    unreachable=True,
                )
                return False
            others = [d for d in destinations if d != reachable]
            logger.info(
                "Resyncing partial-state room %s via %s (then %s)",
                room_id,
                reachable,
                ", ".join(others) or "no other server",
            )
            return self._partial_state.start_resync(room_id, reachable, others)
        finally:
            self._starting.discard(room_id)

    async def _first_reachable(self, destinations: list[str]) -> str | None:
        """The first destination not in Synapse's retry back-off; failing that, the
        first that answers a probe (which clears its back-off)."""
        backed_off: list[str] = []
        for destination in destinations:
            if await self._destinations.backed_off_until_ms(destination):
                backed_off.append(destination)
            else:
                return destination
        if not backed_off:
            return None

        async def probe(destination: str) -> None:
            await self._destinations.probe(destination, PROBE_TIMEOUT_MS)

        try:
            destination, _ = await self._partial_state.first_answer(backed_off, probe)
        except DestinationsExhausted as e:
            # A server answering with the MSC3895 code is up: it can serve the
            # resync once its own room is full, and must not count as down.
            if e.partial_state:
                return e.partial_state[0]
            logger.info("No backed-off destination answered a probe: %s", e)
            return None
        return destination

    def _state_of(self, room: PartialStateRoom) -> RoomResyncState:
        state = self._rooms.get(room.room_id)
        if state is None:
            state = RoomResyncState(room.room_id, room.joined_via, self._now())
            self._rooms[room.room_id] = state
        return state

    def _record_failure(
        self,
        state: RoomResyncState,
        error: str,
        *,
        counted: bool = False,
        unreachable: bool = False,
    ) -> None:
        """A failed attempt; ``counted`` if it was counted when it started."""
        now = self._now()
        state.unreachable = unreachable
        if not counted:
            state.attempts += 1
            state.last_attempt_ms = now
            self._metrics.attempt()
        state.consecutive_failures += 1
        state.last_error = error
        state.last_failure_ms = now
        state.next_attempt_ms = now + next_delay_ms(
            state.consecutive_failures,
            self._config.resync_interval_ms,
            self._config.max_resync_interval_ms,
        )
        self._metrics.failure()
        logger.info(
            "Resync of partial-state room %s failed (%d in a row): %s; next in %d ms",
            state.room_id,
            state.consecutive_failures,
            error,
            state.next_attempt_ms - now,
        )

    # Observing Synapse's resyncs (ResyncObserver).
    def on_resync_started(self, room_id: str) -> None:
        state = self._rooms.get(room_id)
        if state is None:
            state = RoomResyncState(room_id, None, self._now())
            self._rooms[room_id] = state
        state.running = True
        state.attempts += 1
        state.last_attempt_ms = self._now()
        self._metrics.attempt()

    def on_resync_finished(self, room_id: str, error: BaseException | None) -> None:
        state = self._rooms.get(room_id)
        if room_id in self._aborted:
            self._aborted.discard(room_id)
            self._rooms.pop(room_id, None)
            return
        if error is None:
            # Synapse's resync returns only once the partial-state flag is cleared.
            join_time = state.join_time_ms if state else None
            seconds = (self._now() - join_time) / 1000 if join_time else None
            self._metrics.success(seconds)
            self._rooms.pop(room_id, None)
            logger.info("Partial-state room %s is now full-state", room_id)
            return
        if state is None:
            state = RoomResyncState(room_id, None, self._now(), attempts=1)
            self._rooms[room_id] = state
        state.running = False
        self._record_failure(
            state, describe(error), counted=True, unreachable=unreachable(error)
        )

    def on_remote_server_up(self, server: str) -> None:
        """Synapse saw ``server`` alive again: rooms it serves become due, no sooner
        than one interval after their last failure (so that a flapping server that
        keeps sending transactions cannot make us hammer it)."""
        due = False
        for state in self._rooms.values():
            if server in state.destinations or server == state.joined_via:
                earliest = (
                    state.last_failure_ms or 0
                ) + self._config.resync_interval_ms
                state.next_attempt_ms = min(state.next_attempt_ms, earliest)
                due = True
        if due:
            self._api.delayed_background_call(
                max(
                    0,
                    min(s.next_attempt_ms for s in self._rooms.values()) - self._now(),
                ),
                self.tick,
                desc="msc3902_resync_on_server_up",
            )

    # For the admin API.
    def rooms_json(self, rooms: Iterable[PartialStateRoom]) -> list[dict[str, object]]:
        result = []
        for room in sorted(rooms, key=lambda r: r.room_id):
            state = self._state_of(room)
            running = self._partial_state.resync_running(room.room_id)
            result.append(state.as_json(running))
        return result

    def forget(self, room_id: str) -> None:
        """The room is being aborted: drop its record, and ignore the outcome of
        the resync running now, if any."""
        if self._partial_state.resync_running(room_id):
            self._aborted.add(room_id)
        self._rooms.pop(room_id, None)
