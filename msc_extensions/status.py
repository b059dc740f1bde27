"""``GET /_synapse/admin/v1/msc_extensions/status``: what this module runs, for admins.

Answers which module and Synapse versions are running and which features this
process built, so an admin can check a deployment without reading logs.
"""

import re
from collections.abc import Iterable, Sequence

import synapse
from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions.admin_api import ADMIN_PREFIX, require_server_admin
from msc_extensions.feature import Feature
from msc_extensions.version import __version__


class ModuleStatusServlet(RestServlet):
    PATTERNS = [re.compile(f"^{re.escape(ADMIN_PREFIX)}/status$")]
    CATEGORY = "Admin API requests"

    def __init__(self, api: ModuleApi, built: Sequence[str]) -> None:
        super().__init__()
        self._api = api
        self._built = sorted(built)

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        await require_server_admin(self._api, request)
        return 200, {
            "module_version": __version__,
            "synapse_version": synapse.__version__,
            "worker_app": self._api.worker_app,
            "features": {name: {"enabled": True} for name in self._built},
        }


class ModuleStatusFeature(Feature):
    """Always on: the admin status endpoint, listing the features that were built."""

    name = "status"

    def __init__(self, api: ModuleApi, built: Sequence[Feature]) -> None:
        self._api = api
        self._built = [feature.name for feature in built]

    def admin_servlets(self) -> Iterable[RestServlet]:
        return [ModuleStatusServlet(self._api, self._built)]
