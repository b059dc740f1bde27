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

import attr
from synapse.module_api import ModuleApi

from msc_extensions._synapse_private.partial_state import PartialStateInternals
from msc_extensions.partial_state.resync import ResyncScheduler

logger = logging.getLogger(__name__)

#: What DELETE refuses to lose unless the body names it in ``"lose"``.
LOSABLE = ("local_aliases", "local_power")

LEAVE_DELIVERY_TIMEOUT_S = 10.0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class AbortResult:
    resync_cancelled: bool
    local_users_left: list[str]
    leave_delivered_to: list[str]
    leave_not_delivered_to: list[str]


class RoomAborter:
    def __init__(
        self,
        api: ModuleApi,
        internals: PartialStateInternals,
        scheduler: ResyncScheduler,
    ) -> None:
        self._api = api
        self._internals = internals
        self._scheduler = scheduler

    async def would_lose(self, room_id: str, lose: list[str]) -> dict[str, list[str]]:
        """What aborting would lose that ``lose`` does not name."""
        found: dict[str, list[str]] = {}
        aliases = await self._internals.local_aliases(room_id)
        if aliases and "local_aliases" not in lose:
            found["local_aliases"] = aliases
        powerful = await self._internals.local_users_with_power(room_id)
        if powerful and "local_power" not in lose:
            found["local_power"] = powerful
        return found

    async def abort(self, room_id: str) -> AbortResult:
        internals = self._internals
        destinations = sorted(await internals.servers_believed_in_room(room_id))
        backed_off_before = {
            d
            for d in destinations
            if await internals.destination_backed_off_until_ms(d) is not None
        }
        self._scheduler.forget(room_id)
        cancelled = internals.cancel_resync(room_id)
        if cancelled:
            # Synapse stores the cancelled request's failure in the background.
            await self._api.sleep(0.2)
            for destination in destinations:
                if destination not in backed_off_before:
                    await internals.clear_retry_backoff(destination)

        left = await internals.make_local_users_leave(room_id)
        last_leave = max(left.values(), default=0)
        pending = set(destinations)
        deadline = self._api.get_current_time_msec() + LEAVE_DELIVERY_TIMEOUT_S * 1000
        while pending and left:
            for destination in list(pending):
                if await internals.delivered_up_to(destination) >= last_leave:
                    pending.discard(destination)
            if not pending or self._api.get_current_time_msec() > deadline:
                break
            await self._api.sleep(0.1)

        await internals.purge_room(room_id)
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
