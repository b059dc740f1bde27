"""MSC3895 on every process that serves federation: the main process and workers
alike replace Synapse's /event, /event_auth and /hierarchy with the module's, and
rewrite the error code on their federation listeners."""

from synapse.app.generic_worker import GenericWorkerServer
from synapse.app.homeserver import SynapseHomeServer
from synapse.federation.transport.server import TransportLayerServer

from tests.integration.harness import ProcessTestCase

OVERRIDDEN = {
    "/_matrix/federation/v1/event/": "EventServlet",
    "/_matrix/federation/v1/event_auth/": "EventAuthServlet",
    "/_matrix/federation/v1/hierarchy/": "HierarchyServlet",
}


class _FederationProcessTests(ProcessTestCase):
    def servlet_names(self) -> dict[str, str]:
        resource = TransportLayerServer(self.hs)
        names = {}
        for pattern, methods in resource._routes.items():
            for prefix in OVERRIDDEN:
                if pattern.pattern.startswith("^" + prefix):
                    names[prefix] = methods[b"GET"].servlet_classname
        return names

    def test_module_servlets_replace_synapse_ones(self) -> None:
        self.assertEqual(self.servlet_names(), OVERRIDDEN)
        resource = TransportLayerServer(self.hs)
        self.assertEqual(
            getattr(resource, "_msc_extensions_errcode", None),
            "ORG.MATRIX.MSC3895_UNABLE_DUE_TO_PARTIAL_STATE",
        )


class MainProcessTestCase(_FederationProcessTests):
    homeserver_class = SynapseHomeServer


class WorkerTestCase(_FederationProcessTests):
    homeserver_class = GenericWorkerServer


class DisabledTestCase(_FederationProcessTests):
    homeserver_class = SynapseHomeServer
    module_settings = {"msc3895": {"enabled": False}}

    def test_module_servlets_replace_synapse_ones(self) -> None:
        names = self.servlet_names()
        self.assertEqual(
            names,
            {
                "/_matrix/federation/v1/event/": "FederationEventServlet",
                "/_matrix/federation/v1/event_auth/": "FederationEventAuthServlet",
                "/_matrix/federation/v1/hierarchy/": "FederationRoomHierarchyServlet",
            },
        )


del _FederationProcessTests
