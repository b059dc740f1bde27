"""Real Synapse homeservers for end-to-end tests.

Each homeserver is ``python -m synapse.app.homeserver -c homeserver.yaml`` run from a
fresh temporary directory (its working directory, database, media store, signing key,
self-signed TLS certificate and log), with the repository root on ``PYTHONPATH`` so it
can load ``msc_extensions`` and test-only modules from ``tests``.

Listeners, on free loopback ports picked at run time:

- ``client_url`` (``http://127.0.0.1:<port>``): plain HTTP, resources ``[client]``:
  client API, admin API, ``/health``;
- ``federation_url`` (``https://127.0.0.1:<port>``): TLS, resources
  ``[federation]``: federation API and ``/_matrix/key/v2/server``.

The server name is ``127.0.0.1:<federation port>``. SQLite unless a ``database``
section is given. See docs/e2e-testing.md.

API (stable; other tests build on it)::

    class MyTest(E2ETestCase):                  # trial TestCase, timeout = 180
        async def test_x(self) -> None:
            hs = await start_homeserver(self, module_config={...},
                                        extra_modules=[{"module": "...", "config": {}}],
                                        overrides={...}, database=None)
            pair = await start_pair(self, module_config={...})      # pair.a, pair.b
            user = await hs.register_user(self.client, "alice", admin=True)
            status, body = await self.client.get_json(
                hs.client_url + "/_matrix/client/versions",
                access_token=user.access_token)
            status, body = await pair.a.federation_request(
                self.client, pair.b, "GET", "/_matrix/federation/v1/version")

- ``start_homeserver(test, **options) -> Homeserver``: started, ready, and stopped
  when ``test`` cleans up (pass ``test=None`` to stop it yourself: ``await hs.stop()``).
- ``start_pair(test, **options) -> HomeserverPair``: two servers started
  concurrently, ``pair.a`` and ``pair.b``, each with the same options.
- ``shared_pair(key, **options) -> HomeserverPair``: one pair per ``key`` for the
  whole test run, stopped when the run exits; for read-only tests that would
  otherwise each start the same servers.
- ``launch_homeserver(test, **options) -> Homeserver``: the process is started but
  not waited for; ``await hs.wait_until_ready()`` or
  ``await hs.process.wait_for_exit(timeout)`` (for configurations that must fail).
- ``Homeserver``: ``server_name``, ``client_url``, ``federation_url``,
  ``client_port``, ``federation_port``, ``directory``, ``config`` (the dict written
  to ``config_path``), ``process`` (``.pid``, ``.log_tail()``), ``signing_key()``,
  ``register_user(client, localpart, *, admin=False, password=None) ->
  RegisteredUser(user_id, access_token, device_id)``,
  ``federation_request(client, destination, method, uri, content=None) ->
  (status, body)`` signed as this server, ``stop()``.
- ``JsonClient`` (``tests.e2e.client``): ``get_json/put_json/post_json(url, ...,
  access_token=None) -> (status, body)``, ``request(...)`` for raw bodies and
  headers. ``E2ETestCase`` gives every test one as ``self.client``.
- ``signed_request`` / ``x_matrix_authorization`` (``tests.e2e.federation``): sign
  as any origin with any key.
- Workers: ``tests.e2e.workers`` (``main_process_options``, ``start_worker``) with
  ``tests.e2e.postgres.postgres_cluster()`` and ``tests.e2e.redis_server``; they
  skip the test when PostgreSQL, psycopg2, redis-server or txredisapi is missing.

Options: ``module_config`` (the msc_extensions ``config:`` mapping; ``None`` for
``{}``), ``load_module`` (False: no msc_extensions at all), ``extra_modules`` (more
``modules:`` entries), ``overrides`` (top-level config keys, replacing ours),
``extra_listeners`` (more ``listeners:`` entries), ``database`` (a ``database:``
mapping, e.g. from :mod:`tests.e2e.postgres`), ``timeout`` (seconds to become ready,
default 60).
"""

import atexit
import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from signedjson.key import read_signing_keys
from signedjson.types import SigningKey
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tests.e2e.client import JsonClient, Response
from tests.e2e.config import (
    LOOPBACK,
    MODULE,
    free_ports,
    homeserver_config,
    module_entry,
    write_homeserver_config,
)
from tests.e2e.federation import signed_request
from tests.e2e.process import ServerProcess, pause

__all__ = [
    "E2ETestCase",
    "Homeserver",
    "HomeserverPair",
    "HomeserverStartError",
    "JsonClient",
    "RegisteredUser",
    "launch_homeserver",
    "shared_pair",
    "start_homeserver",
    "start_pair",
]

HOMESERVER_APP = "synapse.app.homeserver"
READY_TIMEOUT = 60.0

#: Set to 1 to keep each homeserver's directory (config, database, log) after it
#: stops.
KEEP_ENV = "MSC_EXTENSIONS_E2E_KEEP"

# How many times a start is retried with fresh ports when another process took a
# port between our picking it and Synapse binding it.
_PORT_ATTEMPTS = 3


class HomeserverStartError(Exception):
    """A homeserver exited or did not become ready; the message ends with its log."""


@dataclass(frozen=True)
class RegisteredUser:
    user_id: str
    access_token: str
    device_id: str


class E2ETestCase(TestCase):
    """A trial test case on the real reactor, with a :class:`JsonClient` as
    ``self.client``. Real processes are slower than the harness's default 20 s."""

    timeout = 180

    def setUp(self) -> None:
        super().setUp()
        self.client = JsonClient.for_test(self)


class Homeserver:
    """One homeserver's files and process. Start it with :func:`start_homeserver`."""

    def __init__(
        self,
        *,
        module_config: Mapping[str, Any] | None = None,
        load_module: bool = True,
        extra_modules: Sequence[Mapping[str, Any]] = (),
        overrides: Mapping[str, Any] | None = None,
        extra_listeners: Sequence[Mapping[str, Any]] = (),
        database: Mapping[str, Any] | None = None,
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="msc-extensions-e2e-"))
        self.client_port, self.federation_port = free_ports(2)
        self.server_name = f"{LOOPBACK}:{self.federation_port}"
        self.client_url = f"http://{LOOPBACK}:{self.client_port}"
        self.federation_url = f"https://{LOOPBACK}:{self.federation_port}"
        self.registration_shared_secret = secrets.token_hex(16)
        modules = [module_entry(module_config)] if load_module else []
        modules += [dict(m) for m in extra_modules]
        self.config = homeserver_config(
            self.directory,
            server_name=self.server_name,
            client_port=self.client_port,
            federation_port=self.federation_port,
            registration_shared_secret=self.registration_shared_secret,
            modules=modules,
            database=database,
            extra_listeners=extra_listeners,
            overrides=overrides,
        )
        self.config_path = write_homeserver_config(self.directory, self.config)
        self._process: ServerProcess | None = None

    @property
    def process(self) -> ServerProcess:
        assert self._process is not None, "not launched"
        return self._process

    def launch(self) -> None:
        """Starts the process without waiting for it to be ready."""
        self._process = ServerProcess.synapse(
            HOMESERVER_APP,
            [self.config_path],
            cwd=self.directory,
            log_path=self.directory / "homeserver.log",
        )

    async def wait_until_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Waits until ``/health`` answers on the client listener and the key
        endpoint on the federation listener; raises :class:`HomeserverStartError`
        if the process exits first or ``timeout`` passes."""
        await wait_for_http(
            self.process,
            [
                self.client_url + "/health",
                self.federation_url + "/_matrix/key/v2/server",
            ],
            timeout,
        )

    async def restart(
        self,
        *,
        load_module: bool | None = None,
        module_config: Mapping[str, Any] | None = None,
        timeout: float = READY_TIMEOUT,
    ) -> None:
        """Stops the process and starts it again on the same directory, database
        and ports, and waits until it is ready. With ``load_module``,
        ``homeserver.yaml`` is rewritten first: msc_extensions is loaded with
        ``module_config`` (first among the modules) or not loaded; the other
        modules stay."""
        await self.process.stop()
        if load_module is not None:
            others = [m for m in self.config["modules"] if m["module"] != MODULE]
            ours = [module_entry(module_config)] if load_module else []
            self.config["modules"] = ours + others
            write_homeserver_config(self.directory, self.config)
        self.launch()
        await self.wait_until_ready(timeout)

    async def stop(self) -> None:
        """Stops the process and, unless MSC_EXTENSIONS_E2E_KEEP=1, removes the
        directory."""
        if self._process is not None:
            await self._process.stop()
        self._remove_directory()

    def stop_now(self) -> None:
        if self._process is not None:
            self._process.stop_now()
        self._remove_directory()

    def _remove_directory(self) -> None:
        if os.environ.get(KEEP_ENV) != "1":
            shutil.rmtree(self.directory, ignore_errors=True)

    def signing_key(self) -> SigningKey:
        with open(self.config["signing_key_path"]) as f:
            (key,) = read_signing_keys(f)
        return key

    async def register_user(
        self,
        client: JsonClient,
        localpart: str,
        *,
        admin: bool = False,
        password: str | None = None,
    ) -> RegisteredUser:
        """Registers through the shared-secret admin API."""
        url = self.client_url + "/_synapse/admin/v1/register"
        status, body = await client.get_json(url)
        if status != 200:
            raise AssertionError(f"GET register nonce: {status} {body}")
        password = password or secrets.token_hex(8)
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    body["nonce"].encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        status, body = await client.post_json(
            url,
            {
                "nonce": body["nonce"],
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        if status != 200:
            raise AssertionError(f"register {localpart}: {status} {body}")
        return RegisteredUser(body["user_id"], body["access_token"], body["device_id"])

    async def federation_request(
        self,
        client: JsonClient,
        destination: "Homeserver",
        method: str,
        uri: str,
        content: Any = None,
    ) -> Response:
        """``method uri`` on ``destination``'s federation listener, signed as this
        server. ``uri`` includes any query string."""
        return await signed_request(
            client,
            origin=self.server_name,
            signing_key=self.signing_key(),
            destination=destination.server_name,
            destination_url=destination.federation_url,
            method=method,
            uri=uri,
            content=content,
        )


@dataclass(frozen=True)
class HomeserverPair:
    a: Homeserver
    b: Homeserver


async def wait_for_http(
    process: ServerProcess, urls: Sequence[str], timeout: float
) -> None:
    """Polls each URL until it answers 200, in order."""
    deadline = time.monotonic() + timeout
    client = JsonClient()
    try:
        for url in urls:
            while True:
                code = process.exit_code()
                if code is not None:
                    raise HomeserverStartError(
                        f"pid {process.pid} exited with {code} before {url} "
                        f"answered; its log ends:\n{process.log_tail()}"
                    )
                try:
                    status, _ = await client.get_json(url)
                    if status == 200:
                        break
                except Exception:  # refused, reset: not listening yet
                    pass
                if time.monotonic() > deadline:
                    raise HomeserverStartError(
                        f"{url} did not answer within {timeout} s; "
                        f"log of pid {process.pid} ends:\n{process.log_tail()}"
                    )
                await pause()
    finally:
        await client.close()


def _register_stop(test: TestCase | None, hs: Homeserver) -> None:
    if test is not None:
        test.addCleanup(hs.stop)


def launch_homeserver(test: TestCase | None, **options: Any) -> Homeserver:
    """A homeserver whose process has been started, not waited for."""
    hs = Homeserver(**options)
    _register_stop(test, hs)
    hs.launch()
    return hs


async def start_homeserver(
    test: TestCase | None, *, timeout: float = READY_TIMEOUT, **options: Any
) -> Homeserver:
    """A ready homeserver, stopped when ``test`` cleans up."""
    for attempt in range(_PORT_ATTEMPTS):
        hs = launch_homeserver(test, **options)
        try:
            await hs.wait_until_ready(timeout)
            return hs
        except HomeserverStartError as e:
            await hs.stop()
            if "Address already in use" not in str(e) or attempt + 1 == _PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def start_pair(
    test: TestCase | None, *, timeout: float = READY_TIMEOUT, **options: Any
) -> HomeserverPair:
    """Two ready homeservers with the same options, started concurrently."""
    starts = [
        defer.ensureDeferred(start_homeserver(test, timeout=timeout, **options))
        for _ in range(2)
    ]
    results = await defer.DeferredList(starts, consumeErrors=True)
    servers = [result for ok, result in results if ok]
    failures = [result for ok, result in results if not ok]
    if failures:
        if test is None:
            for server in servers:
                await server.stop()
        cast(Failure, failures[0]).raiseException()
    return HomeserverPair(*servers)


_shared: dict[str, HomeserverPair] = {}


async def shared_pair(key: str, **options: Any) -> HomeserverPair:
    """The pair started for ``key`` by the first caller in this test run; stopped
    when the run exits. Callers with the same key must pass the same options and
    must not change what other tests see (use unique user names)."""
    if key not in _shared:
        _shared[key] = await start_pair(None, **options)
    pair = _shared[key]
    for hs in (pair.a, pair.b):
        if hs.process.exit_code() is not None:
            raise HomeserverStartError(
                f"shared homeserver {hs.server_name} has exited; its log ends:\n"
                + hs.process.log_tail()
            )
    return pair


@atexit.register
def _stop_shared() -> None:
    for pair in _shared.values():
        pair.a.stop_now()
        pair.b.stop_now()
