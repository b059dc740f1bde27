"""The one partial-state service of a homeserver, shared by every feature.

The module builds one per homeserver and hands it to every feature through the
:class:`~msc_extensions.feature.FeatureContext`. It is the one object that changes
Synapse's own behaviour for partial-state rooms, and only when a feature asks:

- federation endpoints that cannot answer correctly while a room is partial-state
  here call :meth:`PartialStateService.refuse_if_partial`, and
  :meth:`PartialStateService.rewrite_errcodes` makes Synapse's own answers on a
  federation resource carry the configured error code;
- callers that ask other servers, and must keep MSC3895 answers apart from
  failures, call :meth:`PartialStateService.first_answer`;
- on the main process, :meth:`PartialStateService.observe_resyncs` and
  :meth:`PartialStateService.on_remote_server_up` hook Synapse's resync and its
  retry back-off, each hook installed once, on the first subscription.
"""

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import TypeVar

from synapse.api.errors import SynapseError

from msc_extensions._synapse_private.error_responses import rewrite_errcodes
from msc_extensions._synapse_private.partial_state_store import PartialStateStore
from msc_extensions._synapse_private.resources import HomeServer, HttpServer
from msc_extensions._synapse_private.resync import (
    ResyncObserver,
    SynapseResyncs,
    hook_remote_server_up,
)
from msc_extensions.partial_state.errcodes import (
    PARTIAL_STATE_ERRCODES,
    first_answer,
    partial_state_error,
)
from msc_extensions.partial_state.metrics import RefusalMetrics

logger = logging.getLogger(__name__)

T = TypeVar("T")


class PartialStateService:
    """One homeserver's partial-state rooms, as every feature sees them."""

    def __init__(self, hs: HomeServer, errcode: str) -> None:
        self._hs = hs
        #: The MSC3895 error code this server sends (``msc3895.errcode``).
        self.errcode = errcode
        self._rooms = PartialStateStore(hs)
        self._resyncs = SynapseResyncs(hs)
        self._resync_observers: list[ResyncObserver] = []
        self._server_up_callbacks: list[Callable[[str], None]] = []
        self._refusal_metrics = RefusalMetrics(hs.hostname)

    # Refusals (MSC3895).
    async def is_partial(self, room_id: str) -> bool:
        return await self._rooms.is_partial_state_room(room_id)

    async def refuse_if_partial(self, room_id: str) -> None:
        """Raise the configured MSC3895 error (403) if ``room_id`` is partial-state
        here: for endpoints that cannot answer correctly while it is."""
        if await self.is_partial(room_id):
            raise partial_state_error(self.errcode, room_id)

    def refusal(self, room_id: str) -> SynapseError:
        """The configured MSC3895 error, for a caller that decided to refuse."""
        return partial_state_error(self.errcode, room_id)

    def rewrite_errcodes(self, resource: HttpServer) -> None:
        """Make Synapse's own MSC3895 answers on ``resource`` (a federation
        resource) carry the configured error code, and count every MSC3895
        answer it sends (``synapse_msc_extensions_partial_state_refusals_total``)."""
        rewrite_errcodes(
            resource,
            PARTIAL_STATE_ERRCODES,
            self.errcode,
            self._refusal_metrics.refused,
        )

    async def first_answer(
        self, destinations: Iterable[str], call: Callable[[str], Awaitable[T]]
    ) -> tuple[str, T]:
        """Ask each destination in turn until one answers; see
        :func:`~msc_extensions.partial_state.errcodes.first_answer`."""
        return await first_answer(destinations, call)

    # Synapse's resync (main process only).
    def resync_running(self, room_id: str) -> bool:
        """Whether Synapse runs a resync of the room now, whoever started it."""
        return self._resyncs.running(room_id)

    def start_resync(
        self, room_id: str, initial_destination: str | None, others: Collection[str]
    ) -> bool:
        """Start Synapse's resync of the room unless one runs already; returns
        whether one was started."""
        return self._resyncs.start(room_id, initial_destination, others)

    async def cancel_resync(self, room_id: str) -> bool:
        """Cancel the room's running resync and wait until it has ended. Returns
        whether one was running (and observed: :meth:`observe_resyncs`)."""
        return await self._resyncs.cancel(room_id)

    def observe_resyncs(self, observer: ResyncObserver) -> None:
        """Tell ``observer`` of every resync's start and outcome, Synapse's own
        included, from now on."""
        if not self._resync_observers:
            self._resyncs.hook(_Observers(self._resync_observers))
        self._resync_observers.append(observer)

    def on_remote_server_up(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(server)`` whenever Synapse sees a server that was in its
        retry back-off alive again."""
        if not self._server_up_callbacks:
            hook_remote_server_up(self._hs, self._server_up)
        self._server_up_callbacks.append(callback)

    def _server_up(self, server: str) -> None:
        for callback in self._server_up_callbacks:
            try:
                callback(server)
            except Exception:
                logger.exception("remote-server-up callback failed for %s", server)


class _Observers:
    """Every subscribed :class:`ResyncObserver`, as one."""

    def __init__(self, observers: list[ResyncObserver]) -> None:
        self._observers = observers

    def on_resync_started(self, room_id: str) -> None:
        for observer in self._observers:
            observer.on_resync_started(room_id)

    def on_resync_finished(self, room_id: str, error: BaseException | None) -> None:
        for observer in self._observers:
            observer.on_resync_finished(room_id, error)
