"""Private APIs for idempotent client requests (``PUT .../{txnId}``).

What this file relies on:

1. ``synapse.rest.client.transactions.HttpTransactionCache``: the cache behind
   Synapse's own ``PUT /send/{txnId}``. ``fetch_or_execute_request(request,
   requester, fn)`` keys a transaction by path and user, device or access token,
   runs ``fn`` once, hands every replay the first run's response (also while it is
   still running), forgets runs that raise, and drops entries after 30 to 60
   minutes. Its ``request`` argument is typed as Twisted's ``IRequest``, which
   ``SynapseRequest`` implements without declaring it.
"""

from collections.abc import Awaitable, Callable
from typing import Any, cast

from synapse.http.site import SynapseRequest
from synapse.rest.client.transactions import HttpTransactionCache
from synapse.server import HomeServer
from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest

from msc_extensions._synapse_private.compat import Requester

Response = tuple[int, Any]


class TransactionCache:
    """One transaction cache; Synapse's servlets own one each, and so may ours."""

    def __init__(self, hs: HomeServer) -> None:
        self._cache = HttpTransactionCache(hs)

    def fetch_or_execute(
        self,
        request: SynapseRequest,
        requester: Requester,
        run: Callable[[], Awaitable[Response]],
    ) -> "Deferred[Response]":
        """Run ``run`` once per (path, user, device or token): a replay, even one
        that arrives while the first is still running, gets the first's response.
        A run that raises is forgotten, so a retry after an error runs again."""
        return self._cache.fetch_or_execute_request(
            cast(IRequest, request), requester, run
        )
