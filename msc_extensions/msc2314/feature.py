"""Feature ``msc2314``: a room's current state over federation, and the recovery
of rooms after data loss.

The federation endpoints answer on every process that serves federation, workers
included; the recovery admin API answers on the main process only, the one that can
persist events received over federation as a join does.
"""

from collections.abc import Iterable

from synapse.http.servlet import RestServlet

from msc_extensions._synapse_private.pdu_checks import EventChecks, RemoteStateClient
from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
)
from msc_extensions._synapse_private.room_rejoin import RoomRejoin
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.msc2314.admin import RecoverRoomServlet
from msc_extensions.msc2314.config import Msc2314Config
from msc_extensions.msc2314.fetching import CurrentStateFetcher
from msc_extensions.msc2314.recovery import RoomRecovery
from msc_extensions.msc2314.serving import CurrentStateServer
from msc_extensions.msc2314.servlets import StateIdsServlet, StateServlet


class Msc2314Feature(Feature):
    name = "msc2314"

    def __init__(self, context: FeatureContext, config: Msc2314Config) -> None:
        self._hs = context.hs
        self._config = config
        self._server = CurrentStateServer(context.hs, config, context.partial_state)
        self._api = context.api
        self._on_main_process = context.on_main_process
        self.fetcher = CurrentStateFetcher(
            RemoteStateClient(context.hs),
            EventChecks(context.hs),
            context.partial_state,
        )
        self.recovery = RoomRecovery(context.api, self.fetcher, RoomRejoin(context.hs))

    def federation_servlets(
        self,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
    ) -> Iterable[FederationServlet]:
        servlets: list[FederationServlet] = []
        for servlet_class in (StateServlet, StateIdsServlet):
            for unstable in (False, True):
                servlets.append(
                    servlet_class(
                        self._hs,
                        authenticator,
                        ratelimiter,
                        self._server,
                        unstable=unstable,
                        without_event_id=unstable or self._config.v1_without_event_id,
                    )
                )
        return servlets

    def admin_servlets(self) -> Iterable[RestServlet]:
        if not self._on_main_process:
            return ()
        return (
            RecoverRoomServlet(self._api, self.recovery, self._config.recovery_wait_ms),
        )
