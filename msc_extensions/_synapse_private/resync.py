"""Synapse's resync of partial-state rooms: starting one, and hooks to observe and
cancel every one.

What this file relies on, and why:

1. ``FederationHandler`` (main process only), which runs Synapse's resync:
   ``_active_partial_state_syncs`` (the rooms with a resync running: never start a
   second one) and ``_start_partial_state_room_sync(initial_destination,
   other_destinations, room_id)`` (start one, as Synapse does at join and at
   start-up).
2. ``FederationHandler._sync_partial_state_room(initial_destination,
   other_destinations, room_id)``, replaced on the handler instance by a wrapper that
   reports every resync's start and outcome (Synapse's own included) and can cancel
   it. Synapse calls it through ``self.``, so the instance attribute takes effect for
   all callers. Cancelling raises ``CancelledError`` inside Synapse's resync: the
   federation request it was making ends as a failure of its destination (the
   retry limiter records a back-off), which Synapse wraps in a ``FederationError``
   and answers by asking the room's next destination, if there is one.
3. ``Notifier.notify_remote_server_up(server)``: Synapse calls it when a destination
   that was in retry back-off is seen alive again (a signed request from it, or a
   request to it that succeeded). Wrapped on the instance, so the instance attribute
   takes effect for every caller.
4. The logcontext helpers ``run_in_background`` and ``make_deferred_yieldable``,
   ``ObservableDeferred``, so that the wrapper and a canceller can both wait for one
   resync's outcome, and ``timeout_deferred``, so that the canceller's wait is
   bounded.

Each hook is installed at most once on a homeserver: a second attempt raises.
"""

import logging
from collections.abc import Callable, Collection
from typing import Protocol

from synapse.logging.context import make_deferred_yieldable, run_in_background
from synapse.server import HomeServer
from synapse.util.async_helpers import ObservableDeferred, timeout_deferred
from twisted.internet import defer

logger = logging.getLogger(__name__)

__all__ = ["ResyncObserver", "SynapseResyncs", "hook_remote_server_up"]

#: How many requests of one resync :meth:`SynapseResyncs.cancel` cancels, at most.
_MAX_CANCELS = 10

#: How long :meth:`SynapseResyncs.cancel` waits for the resync to end after each.
_CANCEL_WAIT_S = 1.0

#: Marks what this file installed on a Synapse object, to refuse installing twice.
_HOOKED = "_msc_extensions_hooked"


class ResyncObserver(Protocol):
    def on_resync_started(self, room_id: str) -> None: ...

    def on_resync_finished(self, room_id: str, error: BaseException | None) -> None: ...


class _Resync:
    """One resync running through the hook."""

    def __init__(self, deferred: "defer.Deferred[None]") -> None:
        #: Awaited by the wrapper, which cancelling it cancels Synapse's resync.
        self.deferred = deferred
        #: For a canceller to wait on too, without taking the outcome from the
        #: wrapper.
        self.outcome = ObservableDeferred(deferred)


class SynapseResyncs:
    """Synapse's resync of one homeserver's partial-state rooms (main process)."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._running: dict[str, _Resync] = {}

    # (1)
    def running(self, room_id: str) -> bool:
        """Whether Synapse runs a resync of the room now, whoever started it."""
        handler = self._hs.get_federation_handler()
        return room_id in handler._active_partial_state_syncs

    def start(
        self, room_id: str, initial_destination: str | None, others: Collection[str]
    ) -> bool:
        """Start Synapse's resync for the room unless one runs already."""
        if self.running(room_id):
            return False
        self._hs.get_federation_handler()._start_partial_state_room_sync(
            initial_destination=initial_destination,
            other_destinations=set(others),
            room_id=room_id,
        )
        return True

    # (2)
    def hook(self, observer: ResyncObserver) -> None:
        """Report every resync of this homeserver to ``observer`` from now on."""
        handler = self._hs.get_federation_handler()
        synapse_sync = handler._sync_partial_state_room
        if getattr(synapse_sync, _HOOKED, False):
            raise RuntimeError("Synapse's resync is hooked already")
        running = self._running

        async def sync_partial_state_room(
            initial_destination: str | None,
            other_destinations: Collection[str],
            room_id: str,
        ) -> None:
            observer.on_resync_started(room_id)
            resync = _Resync(
                run_in_background(
                    synapse_sync, initial_destination, set(other_destinations), room_id
                )
            )
            running[room_id] = resync
            try:
                await make_deferred_yieldable(resync.deferred)
            except BaseException as e:
                observer.on_resync_finished(room_id, e)
                raise
            finally:
                running.pop(room_id, None)
            observer.on_resync_finished(room_id, None)

        setattr(sync_partial_state_room, _HOOKED, True)
        handler._sync_partial_state_room = sync_partial_state_room  # type: ignore[method-assign]

    async def cancel(self, room_id: str) -> bool:
        """Cancel the room's resync, if one runs through the hook, and wait until it
        has ended: Synapse's resync has then unwound, and its retry limiter has
        issued the write of each cancelled request's failure. Returns whether there
        was one.

        Synapse turns a cancelled request into a failure of its destination and asks
        the room's next destination, if any: each such request is cancelled in turn.
        A resync that is still running after :data:`_MAX_CANCELS` of them is left
        to end in the background.
        """
        resync = self._running.get(room_id)
        if resync is None:
            return False
        for _ in range(_MAX_CANCELS):
            resync.deferred.cancel()
            try:
                await make_deferred_yieldable(
                    timeout_deferred(
                        deferred=resync.outcome.observe(),
                        timeout=_CANCEL_WAIT_S,
                        clock=self._hs.get_clock(),
                    )
                )
            except defer.TimeoutError:
                continue  # still running: Synapse moved on to another destination
            except Exception:
                pass  # the cancellation, or what Synapse made of it
            return True
        logger.warning("The resync of %s goes on despite cancellation", room_id)
        return True


# (3)
def hook_remote_server_up(hs: HomeServer, callback: Callable[[str], None]) -> None:
    """Call ``callback(server)`` whenever Synapse marks a backed-off server up, after
    Synapse's own notification. ``callback`` must not raise."""
    notifier = hs.get_notifier()
    synapse_notify = notifier.notify_remote_server_up
    if getattr(synapse_notify, _HOOKED, False):
        raise RuntimeError("Synapse's remote-server-up notification is hooked already")

    def notify_remote_server_up(server: str) -> None:
        synapse_notify(server)
        callback(server)

    setattr(notify_remote_server_up, _HOOKED, True)
    notifier.notify_remote_server_up = notify_remote_server_up  # type: ignore[method-assign]
