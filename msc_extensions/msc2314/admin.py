"""The recovery admin API (server admins only, main process only).

- ``POST /_synapse/admin/v1/msc_extensions/rooms/{roomId}/recover``, body
  ``{"servers": ["a.example", ...], "force": false}``: starts a recovery (or joins
  the running one) and answers 200 with its report when it ends within
  ``msc2314.recovery_wait``, or 202 with its status and ``status_url`` otherwise.
- ``GET`` on the same path: the status of the room's last recovery.

See docs/msc2314.md.
"""

import re
from http import HTTPStatus

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_json_object_from_request
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions.admin_api import ADMIN_PREFIX, require_server_admin
from msc_extensions.msc2314.recovery import (
    RUNNING,
    RecoveryJob,
    RecoveryRefused,
    RoomRecovery,
)

RECOVER_PATTERN = f"{re.escape(ADMIN_PREFIX)}/rooms/(?P<room_id>[^/]+)/recover"

#: How often a POST checks whether its recovery has ended, in seconds.
POLL_S = 0.05

_ROOM_ID = re.compile(r"^![^\s/]+$")
_SERVER_NAME = re.compile(
    r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$"
)


class RecoverRoomServlet(RestServlet):
    CATEGORY = "Admin API requests"
    PATTERNS = [re.compile(f"^{RECOVER_PATTERN}$")]

    def __init__(self, api: ModuleApi, recovery: RoomRecovery, wait_ms: int) -> None:
        super().__init__()
        self._api = api
        self._recovery = recovery
        self._wait_s = wait_ms / 1000

    async def on_POST(
        self, request: SynapseRequest, room_id: str
    ) -> tuple[int, JsonDict]:
        await require_server_admin(self._api, request)
        _check_room_id(room_id)
        body = parse_json_object_from_request(request)
        servers = body.get("servers")
        if (
            not isinstance(servers, list)
            or not servers
            or not all(isinstance(s, str) and _SERVER_NAME.match(s) for s in servers)
        ):
            raise SynapseError(
                HTTPStatus.BAD_REQUEST,
                "'servers' must be a non-empty list of server names",
                Codes.INVALID_PARAM,
            )
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise SynapseError(
                HTTPStatus.BAD_REQUEST,
                "'force' must be true or false",
                Codes.INVALID_PARAM,
            )
        servers = [s for s in servers if s != self._api.server_name]
        if not servers:
            raise SynapseError(
                HTTPStatus.BAD_REQUEST,
                "'servers' must name other servers than this one",
                Codes.INVALID_PARAM,
            )

        try:
            job = await self._recovery.start(room_id, servers, force)
        except RecoveryRefused as e:
            raise SynapseError(e.code, e.message) from None
        waited = 0.0
        while job.status == RUNNING and waited < self._wait_s:
            await self._api.sleep(POLL_S)
            waited += POLL_S
        return _answer(job, request)

    async def on_GET(
        self, request: SynapseRequest, room_id: str
    ) -> tuple[int, JsonDict]:
        await require_server_admin(self._api, request)
        _check_room_id(room_id)
        job = self._recovery.job(room_id)
        if job is None:
            raise NotFoundError(f"No recovery of {room_id} since this server started")
        return 200, job.status_json()


def _check_room_id(room_id: str) -> None:
    # Room IDs are "!opaque:server", or "!hash" from room version 12 on.
    if not _ROOM_ID.match(room_id):
        raise SynapseError(
            HTTPStatus.BAD_REQUEST, f"{room_id!r} is not a room ID", Codes.INVALID_PARAM
        )


def _answer(job: RecoveryJob, request: SynapseRequest) -> tuple[int, JsonDict]:
    if job.status == RUNNING:
        status = job.status_json()
        status["status_url"] = request.path.decode("ascii", "replace")
        return HTTPStatus.ACCEPTED, status
    if job.error is not None:
        raise SynapseError(
            job.error.code,
            job.error.message,
            Codes.UNKNOWN,
            additional_fields={"status": job.status_json()},
        )
    assert job.report is not None
    return 200, job.report
