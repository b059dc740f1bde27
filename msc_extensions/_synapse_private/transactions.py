"""Private APIs for idempotent client requests (``PUT .../{txnId}``).

What this file relies on:

1. ``synapse.rest.client.transactions.HttpTransactionCache``: the cache behind
   Synapse's own ``PUT /send/{txnId}``. ``fetch_or_execute_request(request,
   requester, fn)`` keys a transaction by path and user, device or access token,
   runs ``fn`` once, hands every replay the first run's response (also while it is
   still running), forgets runs that raise, and drops entries after 30 to 60
   minutes. Its ``request`` argument is typed as Twisted's ``IRequest``, which
   ``SynapseRequest`` implements without declaring it. It starts a looping call
   when built, so it is built on first use, not while modules load.
2. ``HttpTransactionCache._get_transaction_key``'s choice of whose transaction a
   request is, in this order: a guest's user ID, an application service's ID, the
   user and device ID, and for a requester without a device (tokens minted by the
   admin API) the access token's ID, ``Requester.access_token_id``, the primary
   key of Synapse's ``access_tokens`` table. :func:`transaction_scope` makes the
   same choice, so that what is remembered in the database is keyed exactly like
   what is remembered in memory.
3. The ``devices`` table's unique ``(user_id, device_id)`` and ``access_tokens``'
   primary key ``id``, which tables may refer to with ``ON DELETE CASCADE``, as
   Synapse's own ``event_txn_id_device_id`` does: deleting a device (or a
   device-less token) then deletes what was remembered for it. SQLite enforces
   this because Synapse turns ``PRAGMA foreign_keys`` on for every connection.
"""

from collections.abc import Awaitable, Callable
from typing import Any, cast

import attr
from synapse.http.site import SynapseRequest
from synapse.rest.client.transactions import HttpTransactionCache
from synapse.server import HomeServer
from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest

from msc_extensions._synapse_private.compat import Requester, app_service_id_of

Response = tuple[int, Any]

#: The table and columns a module table refers to, so that a device's (or a
#: device-less token's) rows go when it goes (3).
DEVICES_REFERENCE = "devices (user_id, device_id)"
ACCESS_TOKENS_REFERENCE = "access_tokens (id)"


class TransactionCache:
    """One in-memory transaction cache, as Synapse's servlets own one each."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._cache: HttpTransactionCache | None = None

    def fetch_or_execute(
        self,
        request: SynapseRequest,
        requester: Requester,
        run: Callable[[], Awaitable[Response]],
    ) -> "Deferred[Response]":
        """Run ``run`` once per (path, user, device or token): a replay, even one
        that arrives while the first is still running, gets the first's response.
        A run that raises is forgotten, so a retry after an error runs again."""
        if self._cache is None:
            self._cache = HttpTransactionCache(self._hs)
        return self._cache.fetch_or_execute_request(
            cast(IRequest, request), requester, run
        )


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TransactionScope:
    """Whose transaction a request is, as Synapse decides it for ``/send`` (2)."""

    #: Identifies the scope: equal for requests whose transaction IDs are shared.
    key: str
    #: The user the request is made as.
    user_id: str
    #: The device, when the scope is a device; its rows go when it is deleted.
    device_id: str | None
    #: The access token, when the scope is a device-less token; likewise.
    access_token_id: int | None


def transaction_scope(requester: Requester) -> TransactionScope:
    """(2) The scope of ``requester``'s transaction IDs."""
    user_id = requester.user.to_string()
    if requester.is_guest:
        return TransactionScope(f"guest {user_id}", user_id, None, None)
    app_service_id = app_service_id_of(requester)
    if app_service_id is not None:
        return TransactionScope(f"appservice {app_service_id}", user_id, None, None)
    if requester.device_id:
        return TransactionScope(
            f"device {user_id} {requester.device_id}",
            user_id,
            requester.device_id,
            None,
        )
    token_id = requester.access_token_id
    if token_id is None:
        raise ValueError(f"{user_id} has neither a device nor an access token ID")
    return TransactionScope(f"token {token_id}", user_id, None, token_id)


def request_path(request: SynapseRequest) -> str:
    """(1) The request's path as the in-memory cache keys it: undecoded, so two
    spellings of one room ID are two transactions there, and here."""
    path = request.path
    assert path is not None
    return path.decode("utf-8")
