"""A small TLS-terminating HTTP proxy in front of a homeserver's federation listener.

Give the homeserver the proxy's address as its server name
(``overrides={"server_name": proxy.server_name}``): other servers then reach it only
through the proxy, which forwards every request to the real listener, except that
while :attr:`FederationProxy.blocked` is set it answers requests whose path starts
with one of :attr:`FederationProxy.blocked_prefixes` with ``502 Bad Gateway`` at once,
as a failing load balancer would, or, with :attr:`FederationProxy.drop` (see
:meth:`FederationProxy.go_down`), closes their connections without an answer, as a
server that is down. The sender's federation client counts either as a failure of
the destination and puts it into retry back-off.

Usage::

    port = free_port()
    hs = Homeserver(overrides={"server_name": f"127.0.0.1:{port}"}, ...)
    proxy = await FederationProxy.start(test, hs.directory, port=port)
    proxy.backend_url = hs.federation_url
    proxy.blocked = True
"""

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import treq
from twisted.internet import defer, endpoints, reactor, ssl
from twisted.internet.interfaces import IListeningPort
from twisted.trial.unittest import TestCase
from twisted.web import resource, server
from twisted.web.client import Agent
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent

from tests.e2e.client import TrustAnyCertificate
from tests.e2e.config import LOOPBACK, free_port, make_tls_certificate

#: What a resync asks for: the state at an event, as IDs or in full.
STATE_REQUESTS = (
    "/_matrix/federation/v1/state_ids/",
    "/_matrix/federation/v1/state/",
)

_HOP_BY_HOP = {
    b"connection",
    b"content-length",
    b"host",
    b"keep-alive",
    b"transfer-encoding",
}


class _Forwarder(resource.Resource):
    isLeaf = True

    def __init__(self, proxy: "FederationProxy") -> None:
        super().__init__()
        self._proxy = proxy

    def render(self, request: server.Request) -> object:
        defer.ensureDeferred(self._forward(request))
        return server.NOT_DONE_YET

    async def _forward(self, request: server.Request) -> None:
        proxy = self._proxy
        assert request.uri is not None and request.method is not None
        path = request.uri.decode()
        proxy.seen.append(path)
        try:
            if proxy.blocked and path.startswith(proxy.blocked_prefixes):
                proxy.refused.append(path)
                if proxy.drop:
                    # No answer at all, as from a server that is down.
                    assert request.channel is not None
                    transport = request.channel.transport
                    assert transport is not None
                    transport.abortConnection()
                    return
                request.setResponseCode(502)
                request.setHeader(b"Content-Type", b"application/json")
                request.write(b'{"errcode": "M_UNKNOWN", "error": "proxy: blocked"}')
                return
            assert request.content is not None
            body = request.content.read()
            headers = Headers(
                {
                    name: values
                    for name, values in request.requestHeaders.getAllRawHeaders()
                    if name.lower() not in _HOP_BY_HOP
                }
            )
            response = await proxy.http.request(
                request.method.decode(),
                proxy.backend_url + path,
                headers=headers,
                data=body or None,
            )
            content = await treq.content(response)
            request.setResponseCode(response.code)
            for name, values in response.headers.getAllRawHeaders():
                if name.lower() not in _HOP_BY_HOP:
                    request.responseHeaders.setRawHeaders(name, values)
            request.write(content)
        except Exception as e:  # the backend is down: what a proxy says then
            request.setResponseCode(502)
            request.write(f'{{"errcode": "M_UNKNOWN", "error": "{e!r}"}}'.encode())
        finally:
            if not request.finished and not request._disconnected:
                request.finish()


class FederationProxy:
    """A TLS proxy on ``127.0.0.1:<port>``; see the module docstring."""

    def __init__(self, port: int, certificate_dir: Path) -> None:
        self.port = port
        self.server_name = f"{LOOPBACK}:{port}"
        self.backend_url = ""
        self.blocked = False
        self.blocked_prefixes: tuple[str, ...] = STATE_REQUESTS
        #: Drop blocked requests' connections instead of answering 502.
        self.drop = False
        #: Every path asked for, and those answered 502 because blocked.
        self.seen: list[str] = []
        self.refused: list[str] = []
        self.http = treq.client.HTTPClient(
            cast(IAgent, Agent(reactor, contextFactory=TrustAnyCertificate()))
        )
        self._certificate_dir = certificate_dir
        self._listening: IListeningPort | None = None

    @classmethod
    async def start(
        cls,
        test: TestCase | None,
        certificate_dir: Path,
        *,
        port: int | None = None,
        blocked_prefixes: Sequence[str] = STATE_REQUESTS,
    ) -> "FederationProxy":
        """A listening proxy; stopped when ``test`` cleans up (or call
        :meth:`stop`). ``port`` defaults to a free one."""
        certificate_dir.mkdir(parents=True, exist_ok=True)
        if not (certificate_dir / "tls.crt").exists():
            make_tls_certificate(certificate_dir)
        proxy = cls(port or free_port(), certificate_dir)
        proxy.blocked_prefixes = tuple(blocked_prefixes)
        await proxy._listen()
        if test is not None:
            test.addCleanup(proxy.stop)
        return proxy

    async def _listen(self) -> None:
        pem = (self._certificate_dir / "tls.key").read_bytes() + (
            self._certificate_dir / "tls.crt"
        ).read_bytes()
        certificate = ssl.PrivateCertificate.loadPEM(pem)
        endpoint = endpoints.SSL4ServerEndpoint(
            reactor, self.port, certificate.options(), interface=LOOPBACK
        )
        self._listening = await endpoint.listen(server.Site(_Forwarder(self)))

    def go_down(self) -> None:
        """From now on, drop every request: the server looks down."""
        self.blocked_prefixes = ("/",)
        self.drop = True
        self.blocked = True

    async def stop(self) -> None:
        if self._listening is not None:
            # mypy, without a zope plugin, reads interface methods as taking no
            # self.
            stopped = self._listening.stopListening()  # type: ignore[misc]
            self._listening = None
            if stopped is not None:
                await stopped
