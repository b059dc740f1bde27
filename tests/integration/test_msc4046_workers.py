"""MSC4046 on a worker: its client endpoints on a worker's client listener, its
federation endpoints on a worker's federation listener, built by Synapse's own
listener code. (A real main process and worker: ``tests/e2e/test_workers.py``.)"""

from synapse.app.generic_worker import GenericWorkerServer
from synapse.app.homeserver import SynapseHomeServer

from tests.integration.harness import ProcessTestCase
from tests.server import make_request

CLIENT = "/_matrix/client/unstable/org.matrix.msc4046/room/!r:test"
FEDERATION = "/_matrix/federation/unstable/org.matrix.msc4046"


class _ProcessTests(ProcessTestCase):
    def test_client_endpoints_on_a_client_listener(self) -> None:
        site = self.listen(["client"])
        for method, path in (
            ("GET", f"{CLIENT}/make_pdu/m.room.message"),
            ("PUT", f"{CLIENT}/send_pdu/txn"),
        ):
            channel = make_request(self.reactor, site, method, path, b"{}")
            # Served: the request needs an access token.
            self.assertEqual(channel.code, 401, (method, path, channel.result))
            self.assertEqual(channel.json_body["errcode"], "M_MISSING_TOKEN")

    def test_federation_endpoints_on_a_federation_listener(self) -> None:
        site = self.listen(["federation"])
        for method, path in (
            ("GET", f"{FEDERATION}/make_pdu/!r:test"),
            ("PUT", f"{FEDERATION}/send_pdu/!r:test"),
        ):
            channel = make_request(self.reactor, site, method, path, b"{}")
            # Served: the request needs X-Matrix authentication.
            self.assertEqual(channel.code, 401, (method, path, channel.result))
            self.assertEqual(channel.json_body["errcode"], "M_UNAUTHORIZED")


class MainProcessTestCase(_ProcessTests):
    homeserver_class = SynapseHomeServer


class WorkerTestCase(_ProcessTests):
    homeserver_class = GenericWorkerServer


del _ProcessTests
