"""A feature that exists only in tests, to prove routing apart from shipped features.

It registers exactly as a shipped feature does: one :class:`FeatureSpec` line added
to the registry, in a module class that tests load from a homeserver's config
(``modules: [{module: tests.integration.probe.MscExtensionsWithProbe}]``).
"""

import re
from collections.abc import Iterable
from typing import Any

from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.types import JsonDict

from msc_extensions import MscExtensions
from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
)
from msc_extensions.config import FeatureToggleConfig
from msc_extensions.feature import Feature, FeatureContext, FeatureSpec
from msc_extensions.registry import FEATURES

CLIENT_PATH = "/_matrix/client/unstable/org.example.probe/echo"
FEDERATION_PATH = "/_matrix/federation/unstable/org.example.probe/whoami"
ADMIN_PATH = "/_synapse/admin/v1/org.example.probe/ping"
FLAG = "org.example.probe"


class ProbeClientServlet(RestServlet):
    PATTERNS = [re.compile(f"^{CLIENT_PATH}$")]

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        return 200, {"echo": True}


class ProbeAdminServlet(RestServlet):
    PATTERNS = [re.compile(f"^{ADMIN_PATH}$")]

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        return 200, {"pong": True}


class ProbeFederationServlet(FederationServlet):
    PREFIX = "/_matrix/federation/unstable/org.example.probe"
    PATH = "/whoami"

    async def on_GET(
        self, origin: str, content: Any, query: dict[bytes, list[bytes]]
    ) -> tuple[int, JsonDict]:
        return 200, {"origin": origin}


class ProbeFeature(Feature):
    name = "probe"
    unstable_features = (FLAG,)

    def __init__(self, context: FeatureContext, config: FeatureToggleConfig) -> None:
        self._hs = context.hs

    def client_servlets(self) -> Iterable[RestServlet]:
        return [ProbeClientServlet()]

    def admin_servlets(self) -> Iterable[RestServlet]:
        return [ProbeAdminServlet()]

    def federation_servlets(
        self, authenticator: FederationAuthenticator, ratelimiter: FederationRateLimiter
    ) -> Iterable[FederationServlet]:
        return [
            ProbeFederationServlet(
                hs=self._hs,
                authenticator=authenticator,
                ratelimiter=ratelimiter,
                server_name=self._hs.hostname,
            )
        ]


PROBE = FeatureSpec("probe", FeatureToggleConfig.from_section, ProbeFeature)


class MscExtensionsWithProbe(MscExtensions):
    """msc_extensions with the probe's registry line added."""

    FEATURES = (*FEATURES, PROBE)


MODULE_WITH_PROBE = f"{__name__}.{MscExtensionsWithProbe.__name__}"
