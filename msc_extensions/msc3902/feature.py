"""Feature ``msc3902``: the resync looping call, its admin API and metrics.

Everything runs on the main process only, the one that runs Synapse's resync. On
workers the feature does nothing and serves nothing.
"""

from collections.abc import Iterable

from synapse.http.servlet import RestServlet

from msc_extensions._synapse_private.destinations import Destinations
from msc_extensions._synapse_private.partial_state_store import PartialStateStore
from msc_extensions._synapse_private.room_removal import RoomRemoval
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.msc3902.abort import RoomAborter
from msc_extensions.msc3902.admin import (
    PartialStateRoomResyncServlet,
    PartialStateRoomServlet,
    PartialStateRoomsServlet,
)
from msc_extensions.msc3902.config import Msc3902Config
from msc_extensions.msc3902.metrics import ResyncMetrics
from msc_extensions.msc3902.resync import ResyncScheduler


class Msc3902Feature(Feature):
    name = "msc3902"

    def __init__(self, context: FeatureContext, config: Msc3902Config) -> None:
        api = self._api = context.api
        self._partial_state = context.partial_state
        self._on_main_process = context.on_main_process
        rooms = PartialStateStore(context.hs)
        destinations = Destinations(context.hs)
        self.scheduler = ResyncScheduler(
            api,
            context.partial_state,
            rooms,
            destinations,
            config,
            ResyncMetrics(api.server_name, api.get_current_time_msec),
        )
        self._aborter = RoomAborter(
            api,
            context.partial_state,
            rooms,
            destinations,
            RoomRemoval(context.hs),
            self.scheduler,
        )
        if self._on_main_process:
            self.scheduler.start()

    def admin_servlets(self) -> Iterable[RestServlet]:
        if not self._on_main_process:
            return ()
        args = (self._api, self._partial_state, self.scheduler, self._aborter)
        return (
            PartialStateRoomsServlet(*args),
            PartialStateRoomResyncServlet(*args),
            PartialStateRoomServlet(*args),
        )
