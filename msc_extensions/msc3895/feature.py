"""Feature ``msc3895``: federation endpoints that answer honestly while a room is
partial-state here, on every process that serves federation.

The configured error code (``msc3895.errcode``) goes out on every federation
response that carries the MSC3895 code, Synapse's own included.
"""

from collections.abc import Iterable

from msc_extensions._synapse_private.federation_answers import FederationAnswers
from msc_extensions._synapse_private.partial_state_store import PartialStateStore
from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
    HttpServer,
)
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.msc3895.config import Msc3895Config
from msc_extensions.msc3895.policy import AnswerPolicy
from msc_extensions.msc3895.servlets import (
    EventAuthServlet,
    EventServlet,
    HierarchyServlet,
)


class Msc3895Feature(Feature):
    name = "msc3895"

    def __init__(self, context: FeatureContext, config: Msc3895Config) -> None:
        self._hs = context.hs
        self._partial_state = context.partial_state
        self._policy = AnswerPolicy(
            context.hs.hostname, PartialStateStore(context.hs), context.partial_state
        )
        self._answers = FederationAnswers(context.hs)

    def federation_servlets(
        self,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
    ) -> Iterable[FederationServlet]:
        args = (
            self._hs,
            authenticator,
            ratelimiter,
            self._partial_state,
            self._policy,
            self._answers,
        )
        return (EventServlet(*args), EventAuthServlet(*args), HierarchyServlet(*args))

    def adapt_federation_resource(self, resource: HttpServer) -> None:
        """Synapse's own answers on this resource carry the configured code too."""
        self._partial_state.rewrite_errcodes(resource)
