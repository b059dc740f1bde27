"""Feature ``msc3902``: the resync looping call, its admin API and metrics.

Everything runs on the main process only, the one that runs Synapse's resync. On
workers the feature does nothing and serves nothing.
"""

import logging
from collections.abc import Iterable

from synapse.http.servlet import RestServlet

from msc_extensions._synapse_private.partial_state import PartialStateInternals
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.partial_state.admin import (
    PartialStateRoomResyncServlet,
    PartialStateRoomServlet,
    PartialStateRoomsServlet,
)
from msc_extensions.partial_state.config import Msc3902Config
from msc_extensions.partial_state.metrics import ResyncMetrics
from msc_extensions.partial_state.resync import ResyncScheduler

logger = logging.getLogger(__name__)


class Msc3902Feature(Feature):
    name = "msc3902"

    def __init__(self, context: FeatureContext, config: Msc3902Config) -> None:
        api = self._api = context.api
        self._on_main_process = context.on_main_process
        self.internals = PartialStateInternals(context.hs)
        self.scheduler = ResyncScheduler(
            api, self.internals, config, ResyncMetrics(api.server_name)
        )
        if self._on_main_process:
            self.scheduler.start()

    def admin_servlets(self) -> Iterable[RestServlet]:
        if not self._on_main_process:
            return ()
        args = (self._api, self.internals, self.scheduler)
        return (
            PartialStateRoomsServlet(*args),
            PartialStateRoomResyncServlet(*args),
            PartialStateRoomServlet(*args),
        )
