"""A test-only Synapse module that proves the routing mechanism on real processes.

Loaded by a real homeserver next to msc_extensions, as
``{"module": "tests.e2e.probe_module.ProbeModule", "config": {}}``, it declares one
servlet of each kind and one unstable feature flag through the project's own routing
API (:class:`~msc_extensions.feature.Feature` and
:class:`~msc_extensions.routing.FeatureRouter`), independent of any shipped feature.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
    homeserver_of,
)
from msc_extensions.feature import Feature
from msc_extensions.routing import FeatureRouter

MODULE = "tests.e2e.probe_module.ProbeModule"
FLAG = "org.example.probe"
CLIENT_PATH = "/_matrix/client/unstable/org.example.probe/ping"
FEDERATION_PATH = "/_matrix/federation/unstable/org.example.probe/origin"
ADMIN_PATH = "/_synapse/admin/v1/org.example.probe/ping"


def probe_module_entry() -> dict[str, Any]:
    """The ``modules:`` entry that loads this module."""
    return {"module": MODULE, "config": {}}


class _ClientPing(RestServlet):
    PATTERNS = [re.compile(f"^{re.escape(CLIENT_PATH)}$")]

    def __init__(self, api: ModuleApi) -> None:
        super().__init__()
        self._api = api

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        return 200, {"probe": "client", "worker_app": self._api.worker_app}


class _AdminPing(RestServlet):
    PATTERNS = [re.compile(f"^{re.escape(ADMIN_PATH)}$")]

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        return 200, {"probe": "admin"}


class _FederationOrigin(FederationServlet):
    PREFIX = "/_matrix/federation/unstable/org.example.probe"
    PATH = "/origin"

    async def on_GET(
        self,
        origin: str,
        content: Any,
        query: Mapping[bytes, list[bytes]],
    ) -> tuple[int, JsonDict]:
        return 200, {"probe": "federation", "origin": origin}

    async def on_PUT(
        self,
        origin: str,
        content: JsonDict,
        query: Mapping[bytes, list[bytes]],
    ) -> tuple[int, JsonDict]:
        return 200, {"probe": "federation", "origin": origin, "content": content}


class _ProbeFeature(Feature):
    name = "probe"
    unstable_features = (FLAG,)

    def __init__(self, api: ModuleApi) -> None:
        self._api = api

    def client_servlets(self) -> Iterable[RestServlet]:
        return [_ClientPing(self._api)]

    def federation_servlets(
        self,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
    ) -> Iterable[FederationServlet]:
        hs = homeserver_of(self._api)
        return [_FederationOrigin(hs, authenticator, ratelimiter, hs.hostname)]

    def admin_servlets(self) -> Iterable[RestServlet]:
        return [_AdminPing()]


class ProbeModule:
    def __init__(self, config: Mapping[str, Any], api: ModuleApi) -> None:
        FeatureRouter(homeserver_of(api), [_ProbeFeature(api)]).install()

    @staticmethod
    def parse_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
        return config
