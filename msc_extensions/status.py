"""``GET /_synapse/admin/v1/msc_extensions/status``: what this module runs, for admins.

Answers which module and Synapse versions are running and which proposals are
enabled, so an admin can check a deployment without reading logs.
"""

import re
from collections.abc import Iterable, Mapping

import synapse
from synapse.api.errors import AuthError
from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

import msc_extensions
from msc_extensions.feature import Feature

ADMIN_PREFIX = "/_synapse/admin/v1/msc_extensions"


class ModuleStatusServlet(RestServlet):
    PATTERNS = [re.compile(f"^{re.escape(ADMIN_PREFIX)}/status$")]
    CATEGORY = "Admin API requests"

    def __init__(self, api: ModuleApi, enabled_by_feature: Mapping[str, bool]) -> None:
        super().__init__()
        self._api = api
        self._enabled_by_feature = dict(enabled_by_feature)

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        requester = await self._api.get_user_by_req(request)
        if not await self._api.is_user_admin(requester.user.to_string()):
            raise AuthError(403, "You are not a server admin")
        return 200, {
            "module_version": msc_extensions.__version__,
            "synapse_version": synapse.__version__,
            "worker_app": self._api.worker_app,
            "features": {
                name: {"enabled": enabled}
                for name, enabled in sorted(self._enabled_by_feature.items())
            },
        }


class ModuleStatusFeature(Feature):
    """Always on: the admin status endpoint."""

    name = "status"

    def __init__(self, api: ModuleApi, enabled_by_feature: Mapping[str, bool]) -> None:
        self._api = api
        self._enabled_by_feature = enabled_by_feature

    def admin_servlets(self) -> Iterable[RestServlet]:
        return [ModuleStatusServlet(self._api, self._enabled_by_feature)]
