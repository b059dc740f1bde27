"""Harness test cases for homeservers that load msc_extensions from their config.

The resources are built the way a real process builds a listener's: a
``ClientRestResource``, an admin ``JsonResource`` filled by
``synapse.rest.admin.register_servlets`` and a ``TransportLayerServer``. So the
module's servlets arrive through the same hooks as in a real homeserver, rather than
being listed by the test.
"""

import gc
from typing import Any

import synapse.rest.admin
from synapse.app.generic_worker import GenericWorkerServer
from synapse.config.server import parse_listener_def
from synapse.federation.transport.server import TransportLayerServer
from synapse.http.server import JsonResource
from synapse.rest import ClientRestResource
from synapse.rest.client.transactions import HttpTransactionCache
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests import unittest

MODULE = "msc_extensions.MscExtensions"


def module_config(
    config: JsonDict | None = None, module: str = MODULE
) -> list[JsonDict]:
    """The ``modules`` list of a homeserver config that loads this module (or a
    test subclass of it, ``module``)."""
    return [{"module": module, "config": config or {}}]


def forget_in_memory_transactions(hs: HomeServer) -> None:
    """What a restart (or another worker) does not have: the transaction caches in
    this process's memory for ``hs``. The database stays."""
    for cache in gc.get_objects():
        if isinstance(cache, HttpTransactionCache) and cache.hs is hs:
            cache.transactions.clear()


class ModuleTestCase(unittest.FederatingHomeserverTestCase):
    """A homeserver with the module loaded, served as a real listener serves it.

    Subclasses set ``module_settings`` for the module's own config, and ``module``
    to load a test subclass of the module class.
    """

    module: str = MODULE
    module_settings: JsonDict = {}
    #: Set by the harness: the remote server whose key signs test requests.
    OTHER_SERVER_NAME: str

    def default_config(self) -> JsonDict:
        config: JsonDict = super().default_config()
        config["modules"] = module_config(self.module_settings, self.module)
        return config

    def create_resource_dict(self) -> dict[str, Resource]:
        admin_resource = JsonResource(self.hs, canonical_json=False)
        synapse.rest.admin.register_servlets(self.hs, admin_resource)
        return {
            "/_matrix/client": ClientRestResource(self.hs),
            "/_synapse/admin": admin_resource,
            "/_matrix/federation": TransportLayerServer(self.hs),
        }

    def register_admin(self, localpart: str = "admin") -> tuple[str, str]:
        user_id = self.register_user(localpart, "password", admin=True)
        return user_id, self.login(localpart, "password")

    def register_member(self, localpart: str) -> tuple[str, str]:
        user_id = self.register_user(localpart, "password")
        return user_id, self.login(localpart, "password")

    def request_json(
        self,
        method: str,
        path: str,
        content: Any = None,
        access_token: str | None = None,
    ) -> tuple[int, Any]:
        channel = self.make_request(
            method,
            path,
            content=content if content is not None else b"",
            access_token=access_token,
        )
        return channel.code, channel.json_body if channel.result.get("body") else None


class ProcessTestCase(unittest.HomeserverTestCase):
    """A homeserver of a given process type (``SynapseHomeServer`` for the main
    process, ``GenericWorkerServer`` for a worker) with the module loaded, whose
    listeners are built by Synapse's own listener code (:meth:`listen`).

    Subclasses set ``homeserver_class`` and optionally ``module_settings`` and
    ``module``.
    """

    homeserver_class: type[HomeServer]
    module: str = MODULE
    module_settings: JsonDict = {}

    def make_homeserver(self, reactor: MemoryReactor, clock: Clock) -> HomeServer:
        hs: HomeServer = self.setup_test_homeserver(
            homeserver_to_use=self.homeserver_class
        )
        return hs

    def default_config(self) -> JsonDict:
        config: JsonDict = super().default_config()
        config["modules"] = module_config(self.module_settings, self.module)
        if self.homeserver_class is GenericWorkerServer:
            config["worker_app"] = "synapse.app.generic_worker"
            config["worker_name"] = "worker1"
            config["instance_map"] = {"main": {"host": "127.0.0.1", "port": 0}}
        return config

    def listen(self, names: list[str]) -> Site:
        """A listener serving the resources ``names``, as the process builds it."""
        listener_config = parse_listener_def(
            0,
            {
                "port": 0,
                "type": "http",
                "bind_addresses": ["127.0.0.1"],
                "resources": [{"names": names}],
            },
        )
        hs: Any = self.hs
        if isinstance(hs, GenericWorkerServer):
            hs._listen_http(listener_config)
        else:
            hs._listener_http(hs.config, listener_config)
        site = self.reactor.tcpServers[-1][1]
        assert isinstance(site, Site)
        return site
