"""What every admin endpoint of the module shares: its path prefix and the check
that the caller is a server admin."""

from http import HTTPStatus

from synapse.api.errors import AuthError
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi

#: Every admin endpoint of the module lives under this path.
ADMIN_PREFIX = "/_synapse/admin/v1/msc_extensions"


async def require_server_admin(api: ModuleApi, request: SynapseRequest) -> str:
    """The requesting user's ID. 401 without a valid access token, 403 when the
    user is not a server admin, as Synapse's own admin API answers."""
    requester = await api.get_user_by_req(request)
    user_id = requester.user.to_string()
    if not await api.is_user_admin(user_id):
        raise AuthError(HTTPStatus.FORBIDDEN, "You are not a server admin")
    return user_id
