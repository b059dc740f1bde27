"""MSC4046 make_pdu / send_pdu as a :class:`~msc_extensions.feature.Feature`."""

from collections.abc import Iterable

from synapse.http.servlet import RestServlet

from msc_extensions._synapse_private.federation_answers import FederationAnswers
from msc_extensions._synapse_private.federation_requests import FederationRequests
from msc_extensions._synapse_private.message_ratelimits import MessageRatelimits
from msc_extensions._synapse_private.pdu_acceptance import PduAcceptance
from msc_extensions._synapse_private.pdu_building import PduBuilding
from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
)
from msc_extensions._synapse_private.spam_checks import SpamChecks
from msc_extensions.config import FeatureToggleConfig
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.msc4046.client_servlets import MakePduServlet, SendPduServlet
from msc_extensions.msc4046.federation_servlets import (
    FederationMakePduServlet,
    FederationSendPduServlet,
)
from msc_extensions.msc4046.handler import Msc4046Handler
from msc_extensions.msc4046.local import LocalPdus
from msc_extensions.msc4046.resident import ResidentServers, TemplateSources

#: The make_pdu rate limiter's name, as module rate-limit callbacks see it. It has
#: ``rc_message``'s rate and burst; send_pdu takes ``rc_message`` itself.
MAKE_PDU_RATE_LIMITER = "msc4046.make_pdu"


class Msc4046Feature(Feature):
    name = "msc4046"
    unstable_features = ("org.matrix.msc4046",)

    def __init__(self, context: FeatureContext, config: FeatureToggleConfig) -> None:
        self._context = context
        self._handler: Msc4046Handler | None = None
        self._client_servlets: list[RestServlet] | None = None

    def client_servlets(self) -> Iterable[RestServlet]:
        # One set for every client listener of the process.
        if self._client_servlets is None:
            self._client_servlets = [
                MakePduServlet(self._context.api, self.handler()),
                SendPduServlet(
                    self._context.api,
                    self._context.transactions,
                    self.handler(),
                ),
            ]
        return self._client_servlets

    def federation_servlets(
        self,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
    ) -> Iterable[FederationServlet]:
        args = (self._context.hs, authenticator, ratelimiter, self.handler())
        return [FederationMakePduServlet(*args), FederationSendPduServlet(*args)]

    def handler(self) -> Msc4046Handler:
        """Built when Synapse builds the first resource, as it builds its own
        handlers (not while modules load)."""
        if self._handler is None:
            self._handler = build_handler(self._context)
        return self._handler


def build_handler(context: FeatureContext) -> Msc4046Handler:
    hs = context.hs
    building = PduBuilding(hs)
    acceptance = PduAcceptance(hs)
    return Msc4046Handler(
        hostname=hs.hostname,
        local=LocalPdus(building, acceptance, SpamChecks(hs)),
        building=building,
        acceptance=acceptance,
        residents=ResidentServers(
            FederationRequests(hs),
            context.partial_state,
            building.supported_room_versions(),
        ),
        sources=TemplateSources(),
        partial_state=context.partial_state,
        ratelimits=MessageRatelimits(hs, MAKE_PDU_RATE_LIMITER),
        federation_answers=FederationAnswers(hs),
    )
