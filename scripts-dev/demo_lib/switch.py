"""A's reachability from B, through the fault proxy that A's server name points at.

The proxy (``tests/e2e/tls_proxy.py``, as in the end-to-end tests) has three
settings here:

- *state refused*, while B joins: everything passes except A's ``/state`` and
  ``/state_ids``, answered 502, so B's join-time resync fails and the room stays
  partial-state;
- *unreachable*: every federation request to A is dropped without an answer, as by a
  server that is down (A's signing key stays fetchable, so B can still check
  requests signed as A);
- *reachable*: everything passes.

The switch is a plain-HTTP listener on loopback: ``POST /a/unreachable``,
``POST /a/reachable``; ``GET /`` says which it is. Each answers
``{"a_reachable_from_b": true|false}``.
"""

import json

from twisted.internet import endpoints, reactor
from twisted.internet.interfaces import IListeningPort
from twisted.web import resource, server

from tests.e2e.config import LOOPBACK
from tests.e2e.tls_proxy import STATE_REQUESTS, FederationProxy

FEDERATION_API = "/_matrix/federation/"


def refuse_state(proxy: FederationProxy) -> None:
    proxy.blocked_prefixes = STATE_REQUESTS
    proxy.drop = False
    proxy.blocked = True


def make_unreachable(proxy: FederationProxy) -> None:
    proxy.blocked_prefixes = (FEDERATION_API,)
    proxy.drop = True
    proxy.blocked = True


def make_reachable(proxy: FederationProxy) -> None:
    proxy.blocked = False


def is_reachable(proxy: FederationProxy) -> bool:
    return not proxy.blocked


class _SwitchResource(resource.Resource):
    isLeaf = True

    def __init__(self, proxy: FederationProxy) -> None:
        super().__init__()
        self._proxy = proxy

    def _answer(self, request: server.Request, status: int = 200) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"a_reachable_from_b": is_reachable(self._proxy)}).encode()

    def render_GET(self, request: server.Request) -> bytes:
        return self._answer(request)

    def render_POST(self, request: server.Request) -> bytes:
        actions = {b"/a/reachable": make_reachable, b"/a/unreachable": make_unreachable}
        action = actions.get(request.path)
        if action is None:
            return self._answer(request, 404)
        action(self._proxy)
        return self._answer(request)


class Switch:
    """The switch's listener; :meth:`url` of an action for the printed commands."""

    def __init__(self, port: int, listening: IListeningPort) -> None:
        self.port = port
        self._listening = listening

    @classmethod
    async def start(cls, port: int, proxy: FederationProxy) -> "Switch":
        endpoint = endpoints.TCP4ServerEndpoint(reactor, port, interface=LOOPBACK)
        listening = await endpoint.listen(server.Site(_SwitchResource(proxy)))
        return cls(port, listening)

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    async def stop(self) -> None:
        # mypy, without a zope plugin, reads interface methods as taking no self.
        stopped = self._listening.stopListening()  # type: ignore[misc]
        if stopped is not None:
            await stopped
