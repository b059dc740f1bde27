"""What every admin endpoint of the module shares: its path prefix and the check
that the caller is a server admin."""

from http import HTTPStatus

from synapse.api.errors import AuthError
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi

from msc_extensions._synapse_private.requesters import Requester, ServerAdmins
from msc_extensions._synapse_private.resources import homeserver_of

#: Every admin endpoint of the module lives under this path.
ADMIN_PREFIX = "/_synapse/admin/v1/msc_extensions"


async def require_server_admin(api: ModuleApi, request: SynapseRequest) -> Requester:
    """The requester. 401 without a valid access token, 403 when the user is not a
    server admin, as Synapse's own admin API answers (and with the same check, so
    that delegated authentication's admins are admins here too)."""
    requester = await api.get_user_by_req(request)
    if not await ServerAdmins(homeserver_of(api)).is_server_admin(requester):
        raise AuthError(HTTPStatus.FORBIDDEN, "You are not a server admin")
    return requester
