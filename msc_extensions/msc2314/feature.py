"""Feature ``msc2314``: a room's current state over federation, and the recovery
of rooms after data loss.

The federation endpoints answer on every process that serves federation, workers
included; the recovery admin API answers on the main process only, the one that can
persist events received over federation as a join does.
"""

from collections.abc import Iterable

from synapse.http.servlet import RestServlet

from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
)
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.msc2314.config import Msc2314Config
from msc_extensions.msc2314.serving import CurrentStateServer
from msc_extensions.msc2314.servlets import StateIdsServlet, StateServlet


class Msc2314Feature(Feature):
    name = "msc2314"

    def __init__(self, context: FeatureContext, config: Msc2314Config) -> None:
        self._hs = context.hs
        self._config = config
        self._server = CurrentStateServer(context.hs, config, context.partial_state)

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
        return ()
