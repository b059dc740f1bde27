"""``PUT /_matrix/client/unstable/org.matrix.msc3192/rooms/{roomId}/batch_state/{txnId}``."""

import re

from synapse.http.servlet import RestServlet
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi

from msc_extensions.msc3192.config import Msc3192Config
from msc_extensions.msc3192.handler import BatchStateHandler
from msc_extensions.msc3192.response import Response
from msc_extensions.msc3192.validation import parse_batch
from msc_extensions.request_bodies import read_json_body
from msc_extensions.transactions.service import PersistedTransactions

UNSTABLE_PREFIX = "/_matrix/client/unstable/org.matrix.msc3192"

#: The endpoint's name among those whose transaction IDs are remembered.
TRANSACTION_ENDPOINT = "msc3192.batch_state"


class BatchStateServlet(RestServlet):
    """Authenticates, reads and validates the batch, and runs it once per
    transaction, as Synapse's ``PUT /send/{txnId}`` does, also after a restart
    or on another worker. The body is validated before the transaction is looked
    up, so bad input is always a 400 and never remembered."""

    PATTERNS = [
        re.compile(
            f"^{re.escape(UNSTABLE_PREFIX)}"
            "/rooms/(?P<room_id>[^/]*)/batch_state/(?P<txn_id>[^/]*)$"
        )
    ]
    CATEGORY = "Event sending requests"

    def __init__(
        self,
        api: ModuleApi,
        config: Msc3192Config,
        transactions: PersistedTransactions,
        handler: BatchStateHandler,
    ) -> None:
        super().__init__()
        self._api = api
        self._config = config
        self._transactions = transactions
        self._handler = handler

    async def on_PUT(
        self, request: SynapseRequest, room_id: str, txn_id: str
    ) -> Response:
        requester = await self._api.get_user_by_req(request)
        body = read_json_body(request, self._config.max_body_bytes)
        items = parse_batch(body, self._config.max_events)
        return await self._transactions.fetch_or_execute(
            TRANSACTION_ENDPOINT,
            request,
            requester,
            txn_id,
            lambda: self._handler.handle(requester, room_id, items),
        )
