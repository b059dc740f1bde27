"""A test-only feature that proves the routing mechanism on real processes.

It registers as a shipped feature does, with one registry line
(:class:`~msc_extensions.feature.FeatureSpec`), in a subclass of the module class
that a real homeserver loads instead of msc_extensions itself:
``{"module": "tests.e2e.probe_module.MscExtensionsWithProbe", "config": {}}``. It
declares one servlet of each kind and one unstable feature flag, independent of any
shipped feature.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
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

MODULE = "tests.e2e.probe_module.MscExtensionsWithProbe"
FLAG = "org.example.probe"
CLIENT_PATH = "/_matrix/client/unstable/org.example.probe/ping"
FEDERATION_PATH = "/_matrix/federation/unstable/org.example.probe/origin"
ADMIN_PATH = "/_synapse/admin/v1/org.example.probe/ping"


def probe_module_entry() -> dict[str, Any]:
    """The ``modules:`` entry that loads msc_extensions with the probe feature
    (with ``load_module=False``, in place of msc_extensions' own entry)."""
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

    def __init__(self, context: FeatureContext, config: FeatureToggleConfig) -> None:
        self._api = context.api
        self._hs = context.hs

    def client_servlets(self) -> Iterable[RestServlet]:
        return [_ClientPing(self._api)]

    def federation_servlets(
        self,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
    ) -> Iterable[FederationServlet]:
        hs = self._hs
        return [_FederationOrigin(hs, authenticator, ratelimiter, hs.hostname)]

    def admin_servlets(self) -> Iterable[RestServlet]:
        return [_AdminPing()]


PROBE = FeatureSpec("probe", FeatureToggleConfig.from_section, _ProbeFeature)


class MscExtensionsWithProbe(MscExtensions):
    """msc_extensions with the probe's registry line added."""

    FEATURES = (*FEATURES, PROBE)
