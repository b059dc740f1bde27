"""MSC3902: the loop and the admin API live on the main process only, the process
that runs Synapse's resync. Listeners are built with Synapse's own listener code."""

from typing import Any

from synapse.app.generic_worker import GenericWorkerServer
from synapse.app.homeserver import SynapseHomeServer
from synapse.config.server import parse_listener_def
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor
from twisted.web.server import Site

from tests.integration.harness import module_config
from tests.server import make_request
from tests.unittest import HomeserverTestCase

ROOMS = "/_synapse/admin/v1/msc_extensions/partial_state_rooms"


class _ProcessTests(HomeserverTestCase):
    homeserver_class: type[HomeServer]
    admin_code: int
    loop_runs: bool

    def make_homeserver(self, reactor: MemoryReactor, clock: Clock) -> HomeServer:
        return self.setup_test_homeserver(homeserver_to_use=self.homeserver_class)

    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["modules"] = module_config()
        return config

    def client_site(self) -> Site:
        listener = parse_listener_def(
            0,
            {
                "port": 0,
                "type": "http",
                "bind_addresses": ["127.0.0.1"],
                "resources": [{"names": ["client"]}],
            },
        )
        hs: Any = self.hs
        if self.homeserver_class is GenericWorkerServer:
            hs._listen_http(listener)
        else:
            hs._listener_http(hs.config, listener)
        site = self.reactor.tcpServers[-1][1]
        assert isinstance(site, Site)
        return site

    def test_admin_api_served_only_on_the_main_process(self) -> None:
        site = self.client_site()
        for method, path in (
            ("GET", ROOMS),
            ("POST", f"{ROOMS}/!r:test/resync"),
            ("DELETE", f"{ROOMS}/!r:test"),
        ):
            channel = make_request(self.reactor, site, method, path)
            self.assertEqual(channel.code, self.admin_code, (method, path))

    def test_resync_observed_only_on_the_main_process(self) -> None:
        handler = self.hs.get_federation_handler()
        # Synapse's own bound method, or the module's observing wrapper.
        wrapped = not hasattr(handler._sync_partial_state_room, "__self__")
        self.assertEqual(wrapped, self.loop_runs)


class MainProcessTestCase(_ProcessTests):
    homeserver_class = SynapseHomeServer
    admin_code = 401  # served: needs a token
    loop_runs = True


class WorkerTestCase(_ProcessTests):
    homeserver_class = GenericWorkerServer
    admin_code = 404  # not served
    loop_runs = False

    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["worker_app"] = "synapse.app.generic_worker"
        config["worker_name"] = "worker1"
        config["instance_map"] = {"main": {"host": "127.0.0.1", "port": 0}}
        return config


del _ProcessTests
