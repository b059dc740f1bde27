"""``GET /_synapse/admin/v1/msc_extensions/status``: what this module runs, for admins.

Answers which module and Synapse versions are running, which features this process
built, and each one's effective settings (its config section with every default
filled in, durations in milliseconds), so an admin can check a deployment without
reading logs or ``homeserver.yaml``.
"""

import re
from collections.abc import Iterable, Mapping

import synapse
from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions.admin_api import ADMIN_PREFIX, require_server_admin
from msc_extensions.feature import Feature, SectionConfig
from msc_extensions.version import __version__


class ModuleStatusServlet(RestServlet):
    PATTERNS = [re.compile(f"^{re.escape(ADMIN_PREFIX)}/status$")]
    CATEGORY = "Admin API requests"

    def __init__(self, api: ModuleApi, features: Mapping[str, JsonDict]) -> None:
        super().__init__()
        self._api = api
        self._features = dict(sorted(features.items()))

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        await require_server_admin(self._api, request)
        return 200, {
            "module_version": __version__,
            "synapse_version": synapse.__version__,
            "worker_app": self._api.worker_app,
            "features": self._features,
        }


class ModuleStatusFeature(Feature):
    """Always on: the admin status endpoint, listing the features that were built
    with their effective settings."""

    name = "status"

    def __init__(
        self,
        api: ModuleApi,
        built: Iterable[Feature],
        sections: Mapping[str, SectionConfig],
    ) -> None:
        self._api = api
        self._features = {
            feature.name: sections[feature.name].as_section() for feature in built
        }

    def admin_servlets(self) -> Iterable[RestServlet]:
        return [ModuleStatusServlet(self._api, self._features)]
