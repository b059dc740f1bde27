"""The client endpoints:

- ``GET /_matrix/client/unstable/org.matrix.msc4046/room/{roomId}/make_pdu/{eventType}``
- ``PUT /_matrix/client/unstable/org.matrix.msc4046/room/{roomId}/send_pdu/{txnId}``

Both take ``server_name`` (repeatable): servers in the room to go through when this
server is not in it.
"""

import re
from collections.abc import Awaitable, Callable

from synapse.http.servlet import (
    RestServlet,
    parse_strings_from_args,
)
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.types import JsonDict

from msc_extensions._synapse_private.requesters import Requester
from msc_extensions._synapse_private.transactions import Response
from msc_extensions.msc4046.handler import Msc4046Handler
from msc_extensions.msc4046.templates import parse_template_request
from msc_extensions.request_bodies import read_json_object_body
from msc_extensions.transactions.service import PersistedTransactions

CLIENT_PREFIX = "/_matrix/client/unstable/org.matrix.msc4046"

#: send_pdu's name among the endpoints whose transaction IDs are kept.
TRANSACTION_ENDPOINT = "msc4046.send_pdu"

Send = Callable[[], Awaitable[tuple[int, JsonDict]]]

#: Synapse refuses PDUs whose JSON is larger than this (64 KiB).
MAX_PDU_BYTES = 65536


class MakePduServlet(RestServlet):
    PATTERNS = [
        re.compile(
            f"^{re.escape(CLIENT_PREFIX)}"
            "/room/(?P<room_id>[^/]*)/make_pdu/(?P<event_type>[^/]*)$"
        )
    ]
    CATEGORY = "Event sending requests"

    def __init__(self, api: ModuleApi, handler: Msc4046Handler) -> None:
        super().__init__()
        self._api = api
        self._handler = handler

    async def on_GET(
        self, request: SynapseRequest, room_id: str, event_type: str
    ) -> tuple[int, JsonDict]:
        requester = await self._api.get_user_by_req(request)
        args = request.args or {}
        template = parse_template_request(event_type, requester.user.to_string(), args)
        server_names = parse_strings_from_args(args, "server_name", default=[])
        return 200, await self._handler.make_pdu(
            requester, room_id, template, server_names
        )


class SendPduServlet(RestServlet):
    """Runs each transaction once, as ``PUT /send/{txnId}`` does. The body is read
    before the transaction is looked up, so bad input is a 400 that is never
    remembered."""

    PATTERNS = [
        re.compile(
            f"^{re.escape(CLIENT_PREFIX)}"
            "/room/(?P<room_id>[^/]*)/send_pdu/(?P<txn_id>[^/]*)$"
        )
    ]
    CATEGORY = "Event sending requests"

    def __init__(
        self,
        api: ModuleApi,
        transactions: PersistedTransactions,
        handler: Msc4046Handler,
    ) -> None:
        super().__init__()
        self._api = api
        self._transactions = transactions
        self._handler = handler

    async def on_PUT(
        self, request: SynapseRequest, room_id: str, txn_id: str
    ) -> Response:
        requester = await self._api.get_user_by_req(request)
        pdu = read_json_object_body(request, MAX_PDU_BYTES)
        server_names = parse_strings_from_args(
            request.args or {}, "server_name", default=[]
        )

        async def send() -> tuple[int, JsonDict]:
            return 200, await self._handler.send_pdu(
                requester, room_id, pdu, server_names
            )

        return await self._once_per_transaction(request, requester, txn_id, send)

    async def _once_per_transaction(
        self,
        request: SynapseRequest,
        requester: Requester,
        txn_id: str,
        send: Send,
    ) -> Response:
        """The one place that makes send_pdu idempotent, as ``PUT /send`` is: per
        device (or access token) and txnId, across restarts and workers."""
        return await self._transactions.fetch_or_execute(
            TRANSACTION_ENDPOINT, request, requester, txn_id, send
        )
