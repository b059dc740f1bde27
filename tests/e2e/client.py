"""An HTTP client for talking JSON to real homeservers, on the running reactor.

HTTPS is accepted from any certificate: the homeservers under test present
self-signed ones. Connections are pooled per client; :meth:`JsonClient.close` closes
them, which a test must do before it ends (trial fails a test that leaves sockets
open), so :meth:`JsonClient.for_test` registers that as a clean-up.
"""

import json
from collections.abc import Mapping
from typing import Any, cast

import treq
from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import CertificateOptions
from twisted.protocols import tls
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IPolicyForHTTPS
from zope.interface import implementer

#: What the JSON helpers return: the HTTP status and the decoded body (None when
#: empty, the text when it is not JSON).
Response = tuple[int, Any]


@implementer(IOpenSSLClientConnectionCreator)
class _UnverifiedTLS:
    def __init__(self) -> None:
        self._context = CertificateOptions().getContext()

    def clientConnectionForTLS(self, tls_protocol: object) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tls_protocol)
        connection.set_connect_state()
        return connection


@implementer(IPolicyForHTTPS)
class TrustAnyCertificate:
    """Speaks TLS without checking the server's certificate."""

    def creatorForNetloc(self, hostname: bytes, port: int) -> _UnverifiedTLS:
        return _UnverifiedTLS()


def _real_reactor_clock() -> Any:
    return reactor


def use_the_real_reactor_for_tls() -> None:
    """Undo what Synapse's test harness leaves behind for TLS.

    Each fake reactor of the harness points Twisted's TLS protocol at itself for its
    timers (``twisted.protocols.tls._get_default_clock``) and never puts the real
    reactor back. A TLS connection made afterwards on the real reactor then waits
    forever for a timer that only the fake clock could fire: every HTTPS request of
    an end-to-end test that runs after a harness test in the same process hangs.
    """
    tls._get_default_clock = _real_reactor_clock


class JsonClient:
    """JSON requests to any URL; every method returns ``(status, body)``."""

    def __init__(self) -> None:
        use_the_real_reactor_for_tls()
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        agent = Agent(reactor, contextFactory=TrustAnyCertificate(), pool=self._pool)
        self._http = treq.client.HTTPClient(cast(IAgent, agent))

    @classmethod
    def for_test(cls, test: TestCase) -> "JsonClient":
        """A client whose connections are closed when ``test`` cleans up."""
        client = cls()
        test.addCleanup(client.close)
        return client

    async def close(self) -> None:
        await self._pool.closeCachedConnections()

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        access_token: str | None = None,
    ) -> Response:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if access_token is not None:
            all_headers["Authorization"] = f"Bearer {access_token}"
        response = await self._http.request(
            method,
            url,
            data=body,
            headers=Headers({k: [v] for k, v in all_headers.items()}),
        )
        content = await treq.content(response)
        return response.code, _decode(content)

    async def request_json(
        self,
        method: str,
        url: str,
        content: Any = None,
        *,
        access_token: str | None = None,
    ) -> Response:
        body = None if content is None else json.dumps(content).encode()
        return await self.request(method, url, body=body, access_token=access_token)

    async def get_json(self, url: str, *, access_token: str | None = None) -> Response:
        return await self.request_json("GET", url, access_token=access_token)

    async def put_json(
        self, url: str, content: Any, *, access_token: str | None = None
    ) -> Response:
        return await self.request_json("PUT", url, content, access_token=access_token)

    async def post_json(
        self, url: str, content: Any, *, access_token: str | None = None
    ) -> Response:
        return await self.request_json("POST", url, content, access_token=access_token)


def _decode(content: bytes) -> Any:
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
