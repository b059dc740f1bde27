"""Bringing this server back into a room after data loss (main process only).

A recovery, for one room, from servers the admin names:

1. the room's current state, fetched and checked
   (:class:`~msc_extensions.msc2314.fetching.CurrentStateFetcher`); the local
   users it lists as joined are those to bring back (none: refused, 409);
2. the answering server's latest event, learnt from a join template it builds
   for one of those users and stores nothing of; the event itself and the state
   before it, fetched and checked in the same way;
3. that state, its auth chain and the event persisted as a join persists them:
   the event becomes the room's forward extremity and the local users' existing
   joins are their current membership again. No new event is sent.

Each recovery runs in the background and is remembered (in memory, until the next
recovery of the room or a restart), so that its status can be asked for.
"""

import logging
from collections.abc import Sequence
from typing import Any

import attr
from synapse.api.constants import EventTypes, Membership
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions._synapse_private.room_rejoin import RoomRejoin
from msc_extensions.msc2314.fetching import CurrentStateFetcher, FetchProgress
from msc_extensions.msc2314.metrics import RecoveryMetrics
from msc_extensions.partial_state.errcodes import DestinationsExhausted

logger = logging.getLogger(__name__)

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"


class RecoveryRefused(Exception):
    """The recovery cannot proceed; ``code`` is the HTTP status to answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attr.s(slots=True, auto_attribs=True)
class RecoveryJob:
    room_id: str
    servers: tuple[str, ...]
    progress: FetchProgress = attr.Factory(FetchProgress)
    events_persisted: int = 0
    status: str = RUNNING
    report: JsonDict | None = None
    error: RecoveryRefused | None = None

    def status_json(self) -> JsonDict:
        answer: JsonDict = {
            "room_id": self.room_id,
            "status": self.status,
            "progress": {
                "events_fetched": self.progress.events_fetched,
                "events_validated": self.progress.events_validated,
                "events_persisted": self.events_persisted,
            },
        }
        if self.report is not None:
            answer["report"] = self.report
        if self.error is not None:
            answer["error"] = self.error.message
        return answer


class RoomRecovery:
    """Runs recoveries and remembers the last one of each room."""

    def __init__(
        self, api: ModuleApi, fetcher: CurrentStateFetcher, rejoin: RoomRejoin
    ) -> None:
        self._api = api
        self._fetcher = fetcher
        self._rejoin = rejoin
        self._jobs: dict[str, RecoveryJob] = {}
        self._metrics = RecoveryMetrics(api.server_name, (SUCCEEDED, FAILED))

    def job(self, room_id: str) -> RecoveryJob | None:
        return self._jobs.get(room_id)

    async def start(
        self, room_id: str, servers: Sequence[str], force: bool
    ) -> RecoveryJob:
        """The running recovery of the room if there is one, or a new one.

        Raises:
            RecoveryRefused: 409 when this server is fully in the room already and
                ``force`` is false.
        """
        running = self._jobs.get(room_id)
        if running is not None and running.status == RUNNING:
            return running
        if not force and await self._rejoin.is_fully_in(room_id):
            raise RecoveryRefused(
                409,
                f"This server is in {room_id} with full state already; "
                'send {"force": true} to recover it anyway',
            )
        job = RecoveryJob(room_id, tuple(servers))
        self._jobs[room_id] = job
        self._api.run_as_background_process("msc2314_recover_room", self._run, job)
        return job

    async def _run(self, job: RecoveryJob) -> None:
        with self._metrics.recovering():
            try:
                job.report = await self._recover(job)
                job.status = SUCCEEDED
            except RecoveryRefused as e:
                job.error, job.status = e, FAILED
            except DestinationsExhausted as e:
                job.error, job.status = RecoveryRefused(502, str(e)), FAILED
            except Exception as e:
                logger.exception("Recovery of %s failed", job.room_id)
                job.error = RecoveryRefused(500, f"Recovery failed: {e}")
                job.status = FAILED
        self._metrics.ended(job.status)

    async def _recover(self, job: RecoveryJob) -> JsonDict:
        room_id = job.room_id
        current = await self._fetcher.fetch_current(room_id, job.servers, job.progress)
        server = current.server
        local_members = sorted(
            key[1]
            for key, event in current.state_map().items()
            if key[0] == EventTypes.Member
            and event.membership == Membership.JOIN
            and self._api.is_mine(key[1])
        )
        if not local_members:
            raise RecoveryRefused(
                409,
                f"{server} lists no user of this server as joined in {room_id}: "
                "there is nobody to bring back (a new invite or join is needed)",
            )

        latest, room_version = await self._rejoin.latest_event_ids(
            server, room_id, local_members[0]
        )
        if room_version != current.room_version:
            raise RecoveryRefused(
                502,
                f"{server}: its join template is for room version "
                f"{room_version.identifier}, its state for "
                f"{current.room_version.identifier}",
            )
        anchors = [
            await self._fetcher.fetch_event(room_id, server, event_id, room_version)
            for event_id in latest
        ]
        if not anchors:
            raise RecoveryRefused(502, f"{server} named no latest event in {room_id}")
        # One forward extremity to resume from: the deepest of the server's.
        anchor = max(anchors, key=lambda e: (e.depth, e.event_id))
        if await self._rejoin.has_event(room_id, anchor.event_id):
            return self._report(job, current.room_version.identifier, server, [], 0)

        before = await self._fetcher.fetch_before(
            room_id, server, anchor.event_id, room_version, job.progress
        )
        await self._rejoin.persist(
            server, room_id, room_version, before.state, before.auth_chain, anchor
        )
        persisted = len(before.state) + len(before.auth_chain) + 1
        job.events_persisted = persisted
        restored = [
            u
            for u in await self._rejoin.local_joined_users(room_id)
            if u in local_members
        ]
        return self._report(job, room_version.identifier, server, restored, persisted)

    @staticmethod
    def _report(
        job: RecoveryJob,
        room_version: str,
        server: str,
        restored: list[str],
        persisted: int,
    ) -> JsonDict:
        report: dict[str, Any] = {
            "room_id": job.room_id,
            "room_version": room_version,
            "server": server,
            "users_restored": restored,
            "events_persisted": persisted,
        }
        return report
