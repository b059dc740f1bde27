"""The admin API on partial-state rooms (server admins only, main process only).

- ``GET  /_synapse/admin/v1/msc_extensions/partial_state_rooms``
- ``POST /_synapse/admin/v1/msc_extensions/partial_state_rooms/{roomId}/resync``
- ``DELETE /_synapse/admin/v1/msc_extensions/partial_state_rooms/{roomId}``

See docs/partial-state.md for the answers and the refusals.
"""

import re
from http import HTTPStatus

from synapse.api.errors import Codes, NotFoundError, SynapseError
from synapse.http.servlet import RestServlet, parse_json_object_from_request
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions._synapse_private.partial_state_store import PartialStateRoom
from msc_extensions.admin_api import ADMIN_PREFIX, require_server_admin
from msc_extensions.msc3902.abort import LOSABLE, RoomAborter
from msc_extensions.msc3902.resync import ResyncScheduler
from msc_extensions.partial_state.service import PartialStateService

ROOMS_PREFIX = f"{ADMIN_PREFIX}/partial_state_rooms"

#: The errcode of the 409 to ``POST .../resync`` while the room's resync runs: the
#: request was fine, and asking again once that resync ended will work.
RESYNC_RUNNING_ERRCODE = "ORG.MATRIX.MSC3902_RESYNC_IN_PROGRESS"
#: The errcode of the 409 to ``DELETE`` when aborting would lose what the body did
#: not name in ``lose``: asking again with those names aborts anyway.
WOULD_LOSE_ERRCODE = "ORG.MATRIX.MSC3902_ABORT_WOULD_LOSE"


class _AdminServlet(RestServlet):
    CATEGORY = "Admin API requests"

    def __init__(
        self,
        api: ModuleApi,
        partial_state: PartialStateService,
        scheduler: ResyncScheduler,
        aborter: RoomAborter,
    ) -> None:
        super().__init__()
        self._api = api
        self._partial_state = partial_state
        self._scheduler = scheduler
        self._aborter = aborter

    async def _partial_state_room(self, room_id: str) -> PartialStateRoom:
        rooms = await self._scheduler.refresh()
        room = rooms.get(room_id)
        if room is None:
            raise NotFoundError(f"{room_id} is not a partial-state room here")
        return room


class PartialStateRoomsServlet(_AdminServlet):
    PATTERNS = [re.compile(f"^{re.escape(ROOMS_PREFIX)}$")]

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        await require_server_admin(self._api, request)
        rooms = await self._scheduler.refresh()
        listed = self._scheduler.rooms_json(rooms.values())
        return 200, {"rooms": listed, "total": len(listed)}


class PartialStateRoomResyncServlet(_AdminServlet):
    PATTERNS = [re.compile(f"^{re.escape(ROOMS_PREFIX)}/(?P<room_id>[^/]+)/resync$")]

    async def on_POST(
        self, request: SynapseRequest, room_id: str
    ) -> tuple[int, JsonDict]:
        await require_server_admin(self._api, request)
        room = await self._partial_state_room(room_id)
        if self._partial_state.resync_running(room_id):
            raise SynapseError(
                HTTPStatus.CONFLICT,
                f"A resync of {room_id} is running already",
                RESYNC_RUNNING_ERRCODE,
            )
        started = await self._scheduler.start_resync(room)
        listed = self._scheduler.rooms_json([room])[0]
        if not started:
            raise SynapseError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"Could not start a resync of {room_id}: {listed['last_error']}",
                Codes.UNKNOWN,
            )
        return 200, {"started": True, "room": listed}


class PartialStateRoomServlet(_AdminServlet):
    PATTERNS = [re.compile(f"^{re.escape(ROOMS_PREFIX)}/(?P<room_id>[^/]+)$")]

    async def on_DELETE(
        self, request: SynapseRequest, room_id: str
    ) -> tuple[int, JsonDict]:
        await require_server_admin(self._api, request)
        body = parse_json_object_from_request(request, allow_empty_body=True)
        lose = body.get("lose", [])
        if not isinstance(lose, list) or not all(x in LOSABLE for x in lose):
            raise SynapseError(
                HTTPStatus.BAD_REQUEST,
                "'lose' must be a list of: " + ", ".join(LOSABLE),
                Codes.INVALID_PARAM,
            )
        await self._partial_state_room(room_id)

        would_lose = await self._aborter.would_lose(room_id, lose)
        if would_lose:
            raise SynapseError(
                HTTPStatus.CONFLICT,
                "Aborting would lose "
                + "; ".join(f"{k}: {', '.join(v)}" for k, v in would_lose.items())
                + '. Send {"lose": [...]} naming them to abort anyway.',
                WOULD_LOSE_ERRCODE,
                additional_fields={"would_lose": would_lose},
            )
        result = await self._aborter.abort(room_id)
        return 200, {
            "room_id": room_id,
            "resync_cancelled": result.resync_cancelled,
            "local_users_left": result.local_users_left,
            "leave_delivered_to": result.leave_delivered_to,
            "leave_not_delivered_to": result.leave_not_delivered_to,
            "purged": True,
        }
