"""MSC2314 on every process that serves federation: the main process and workers
alike replace Synapse's /state and /state_ids, and serve the unstable twins."""

from synapse.app.generic_worker import GenericWorkerServer
from synapse.app.homeserver import SynapseHomeServer
from synapse.federation.transport.server import TransportLayerServer

from tests.integration.harness import ProcessTestCase

SERVED = {
    "/_matrix/federation/v1/state/": "StateServlet",
    "/_matrix/federation/v1/state_ids/": "StateIdsServlet",
    "/_matrix/federation/unstable/org.matrix.msc2314/state/": "StateServlet",
    "/_matrix/federation/unstable/org.matrix.msc2314/state_ids/": "StateIdsServlet",
}


class _FederationProcessTests(ProcessTestCase):
    def servlet_names(self) -> dict[str, str]:
        resource = TransportLayerServer(self.hs)
        names = {}
        for pattern, methods in resource._routes.items():
            for prefix in SERVED:
                if pattern.pattern.startswith("^" + prefix):
                    names[prefix] = methods[b"GET"].servlet_classname
        return names

    def test_module_servlets_replace_synapse_ones(self) -> None:
        self.assertEqual(self.servlet_names(), SERVED)


class MainProcessTestCase(_FederationProcessTests):
    homeserver_class = SynapseHomeServer


class WorkerTestCase(_FederationProcessTests):
    homeserver_class = GenericWorkerServer


del _FederationProcessTests
