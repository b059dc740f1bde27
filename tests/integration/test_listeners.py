"""Each listener serves the module's servlets for exactly the resources it names.

These build listeners with Synapse's own listener code (``_listen_http`` of the main
process and of a generic worker), so the servlets arrive the way they do in a real
process, and check what each listener answers.
"""

from parameterized import parameterized
from synapse.app.generic_worker import GenericWorkerServer
from synapse.app.homeserver import SynapseHomeServer
from twisted.web.server import Site

from tests.integration.harness import ProcessTestCase
from tests.integration.probe import (
    ADMIN_PATH,
    CLIENT_PATH,
    FEDERATION_PATH,
    FLAG,
    MODULE_WITH_PROBE,
)
from tests.server import FakeChannel, make_request

STATUS_PATH = "/_synapse/admin/v1/msc_extensions/status"

# What each kind of listener answers on each path: 200 served, 401 served but
# authentication needed, 404 not served.
EXPECTED: dict[str, dict[str, int]] = {
    "client": {
        CLIENT_PATH: 200,
        ADMIN_PATH: 200,
        STATUS_PATH: 401,
        FEDERATION_PATH: 404,
    },
    "federation": {
        CLIENT_PATH: 404,
        ADMIN_PATH: 404,
        STATUS_PATH: 404,
        "/_matrix/client/versions": 404,
        FEDERATION_PATH: 401,
    },
    "media": {CLIENT_PATH: 404, FEDERATION_PATH: 404, ADMIN_PATH: 404},
    "openid": {CLIENT_PATH: 404, FEDERATION_PATH: 404},
}


class _ListenerTests(ProcessTestCase):
    """Run for the main process and for a worker by the subclasses below."""

    module = MODULE_WITH_PROBE

    def get(self, site: Site, path: str) -> FakeChannel:
        return make_request(self.reactor, site, "GET", path)

    @parameterized.expand(sorted(EXPECTED))  # type: ignore[untyped-decorator]
    def test_listener_serves_only_its_resources(self, name: str) -> None:
        site = self.listen([name])
        for path, code in EXPECTED[name].items():
            channel = self.get(site, path)
            self.assertEqual(channel.code, code, f"{name} listener, {path}")

    def test_client_listener_advertises_module_flags(self) -> None:
        channel = self.get(self.listen(["client"]), "/_matrix/client/versions")
        self.assertEqual(channel.code, 200)
        self.assertIs(channel.json_body["unstable_features"][FLAG], True)

    def test_combined_listener_serves_both(self) -> None:
        site = self.listen(["client", "federation"])
        self.assertEqual(self.get(site, CLIENT_PATH).code, 200)
        self.assertEqual(self.get(site, FEDERATION_PATH).code, 401)


class MainProcessListenerTestCase(_ListenerTests):
    homeserver_class = SynapseHomeServer


class WorkerListenerTestCase(_ListenerTests):
    homeserver_class = GenericWorkerServer


# The shared base is not a test case of its own.
del _ListenerTests
