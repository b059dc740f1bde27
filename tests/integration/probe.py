"""A feature that exists only in tests, to prove routing apart from shipped features."""

import re
from collections.abc import Iterable
from typing import Any

from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.types import JsonDict

from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
    HomeServer,
)
from msc_extensions.feature import Feature

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

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs

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
