"""Private APIs for holding a room still while events are created in it.

What this file relies on:

1. ``EventCreationHandler.limiter`` (``hs.get_event_creation_handler()``):
   Synapse's per-room ``Linearizer`` (one holder at a time) that limits
   concurrent event creation in a room.
2. ``WorkerLocksHandler.acquire_read_write_lock`` with
   ``NEW_EVENT_DURING_PURGE_LOCK_NAME``, taken for reading: purging the room's
   history takes it for writing, and must not run while events are created
   against state it would delete.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from synapse.handlers.worker_lock import NEW_EVENT_DURING_PURGE_LOCK_NAME
from synapse.server import HomeServer


class RoomLocks:
    """The locks Synapse's own event creation takes per room."""

    def __init__(self, hs: HomeServer) -> None:
        self._creation = hs.get_event_creation_handler()
        self._worker_locks = hs.get_worker_locks_handler()

    @asynccontextmanager
    async def creating_events(self, room_id: str) -> AsyncIterator[None]:
        """Hold the room's event-creation limiter and its purge lock (for
        reading): holders of the limiter in one room run one after another, and
        the room's history is not purged while the holder creates events."""
        async with self._creation.limiter.queue(room_id):
            async with self._worker_locks.acquire_read_write_lock(
                NEW_EVENT_DURING_PURGE_LOCK_NAME, room_id, write=False
            ):
                yield
