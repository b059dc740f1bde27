"""``PUT /_matrix/client/unstable/org.matrix.msc3192/rooms/{roomId}/batch_state/{txnId}``."""

import json
import re
from typing import Any

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi

from msc_extensions.msc3192.config import Msc3192Config
from msc_extensions.msc3192.handler import BatchStateHandler, Response
from msc_extensions.msc3192.validation import parse_batch

UNSTABLE_PREFIX = "/_matrix/client/unstable/org.matrix.msc3192"


class BatchStateServlet(RestServlet):
    PATTERNS = [
        re.compile(
            f"^{re.escape(UNSTABLE_PREFIX)}"
            "/rooms/(?P<room_id>[^/]*)/batch_state/(?P<txn_id>[^/]*)$"
        )
    ]
    CATEGORY = "Event sending requests"

    def __init__(
        self, api: ModuleApi, config: Msc3192Config, handler: BatchStateHandler
    ) -> None:
        super().__init__()
        self._api = api
        self._config = config
        self._handler = handler

    async def on_PUT(
        self, request: SynapseRequest, room_id: str, txn_id: str
    ) -> Response:
        requester = await self._api.get_user_by_req(request)
        body = read_json_body(request, self._config.max_body_bytes)
        items = parse_batch(body, self._config.max_events)
        return await self._handler.handle(request, requester, room_id, items)


def read_json_body(request: SynapseRequest, max_bytes: int) -> Any:
    """The request's JSON value. 400 for a body over ``max_bytes`` or not JSON."""
    content = request.content
    if content is None:
        raise SynapseError(400, "The body must be a JSON array", Codes.NOT_JSON)
    raw = content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise SynapseError(
            400,
            f"The body is larger than the limit of {max_bytes} bytes",
            Codes.TOO_LARGE,
        )
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SynapseError(
            400, f"The body is not valid JSON: {e}", Codes.NOT_JSON
        ) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")
