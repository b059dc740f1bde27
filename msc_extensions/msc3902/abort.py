"""Aborting a partial-state room that can never complete (DELETE on the admin API).

In order:

1. refuse, before changing anything, if aborting would lose what the admin did not
   name in ``lose``: local aliases of the room (``local_aliases``), local users'
   power above the room's default (``local_power``);
2. forget the room in the resync loop, and stop a running resync (cancelling its
   requests; Synapse records a cancelled request as a failure of the destination,
   so the back-off this adds to a destination that was not backed off before is
   taken back);
3. make local users leave (and forget the room), as the room shutdown admin API
   does;
4. wait, up to :data:`LEAVE_DELIVERY_TIMEOUT_S`, until the leave has reached the
   servers believed in the room, so that they stop sending us the room's events;
5. purge the room.

The answer says which servers got the leave and which did not (those in retry
back-off, say): purging drops Synapse's queue for them.
"""

import logging
from collections.abc import Callable, Collection, Mapping

import attr
from synapse.api.constants import EventTypes
from synapse.module_api import ModuleApi

from msc_extensions._synapse_private.destinations import Destinations
from msc_extensions._synapse_private.partial_state_store import PartialStateStore
from msc_extensions._synapse_private.room_removal import RoomRemoval
from msc_extensions.msc3902.resync import ResyncScheduler
from msc_extensions.partial_state.service import PartialStateService

logger = logging.getLogger(__name__)

#: What DELETE refuses to lose unless the body names it in ``"lose"``.
LOSABLE = ("local_aliases", "local_power")

LEAVE_DELIVERY_TIMEOUT_S = 10.0

#: How often to look whether the leave has reached every server.
LEAVE_DELIVERY_POLL_S = 0.1


@attr.s(frozen=True, slots=True, auto_attribs=True)
class AbortResult:
    resync_cancelled: bool
    local_users_left: list[str]
    leave_delivered_to: list[str]
    leave_not_delivered_to: list[str]


def users_with_power(
    power_levels: Mapping[str, object] | None, is_mine: Callable[[str], bool]
) -> list[str]:
    """The local users whose level in ``power_levels`` (the content of the room's
    ``m.room.power_levels`` event, if any) is above the room's default: once they
    leave, rejoining does not give it back."""
    if power_levels is None:
        return []
    users = power_levels.get("users", {})
    default = power_levels.get("users_default", 0)
    if not isinstance(users, dict) or not isinstance(default, int):
        return []
    return sorted(
        user_id
        for user_id, level in users.items()
        if isinstance(user_id, str)
        and is_mine(user_id)
        and isinstance(level, int)
        and level > default
    )


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RoomAborter:
    _api: ModuleApi
    _partial_state: PartialStateService
    _rooms: PartialStateStore
    _destinations: Destinations
    _removal: RoomRemoval
    _scheduler: ResyncScheduler

    async def would_lose(
        self, room_id: str, lose: Collection[str]
    ) -> dict[str, list[str]]:
        """What aborting would lose that ``lose`` does not name."""
        found: dict[str, list[str]] = {}
        aliases = await self._removal.local_aliases(room_id)
        if aliases and "local_aliases" not in lose:
            found["local_aliases"] = aliases
        power_levels = await self._rooms.current_state_event(
            room_id, EventTypes.PowerLevels
        )
        powerful = users_with_power(
            power_levels.content if power_levels else None, self._api.is_mine
        )
        if powerful and "local_power" not in lose:
            found["local_power"] = powerful
        return found

    async def abort(self, room_id: str) -> AbortResult:
        destinations = sorted(await self._rooms.servers_believed_in_room(room_id))
        backed_off_before = {
            d
            for d in destinations
            if await self._destinations.backed_off_until_ms(d) is not None
        }
        self._scheduler.forget(room_id)
        cancelled = await self._partial_state.cancel_resync(room_id)
        if cancelled:
            # The resync has ended: the request it was making unwound inside it,
            # and Synapse's retry limiter issued the write of that failure then.
            # This write, issued after it, takes back the back-off it added.
            for destination in destinations:
                if destination not in backed_off_before:
                    await self._destinations.clear_retry_backoff(destination)

        left = await self._removal.make_local_users_leave(room_id)
        pending = set(destinations)
        if left:
            pending = await self._undelivered(pending, max(left.values()))
        await self._removal.purge(room_id)
        delivered = [d for d in destinations if d not in pending] if left else []
        logger.info(
            "Aborted partial-state room %s: %s left; leave delivered to %s, not to %s",
            room_id,
            ", ".join(left) or "nobody",
            ", ".join(delivered) or "none",
            ", ".join(sorted(pending)) or "none",
        )
        return AbortResult(
            resync_cancelled=cancelled,
            local_users_left=sorted(left),
            leave_delivered_to=delivered,
            leave_not_delivered_to=sorted(pending) if left else [],
        )

    async def _undelivered(self, destinations: set[str], position: int) -> set[str]:
        """The destinations that have not acknowledged the event at stream
        ``position`` within :data:`LEAVE_DELIVERY_TIMEOUT_S`.

        Polled, because Synapse offers nothing to wait on: its federation sender
        (which may run in another process) tells no one when a destination
        acknowledges a transaction, and records only the last position each
        destination acknowledged, in the database.
        """
        pending = set(destinations)
        deadline = self._api.get_current_time_msec() + LEAVE_DELIVERY_TIMEOUT_S * 1000
        while pending:
            for destination in sorted(pending):
                if await self._destinations.delivered_up_to(destination) >= position:
                    pending.discard(destination)
            if not pending or self._api.get_current_time_msec() > deadline:
                break
            await self._api.sleep(LEAVE_DELIVERY_POLL_S)
        return pending
