"""MSC3902: the loop and the admin API live on the main process only, the process
that runs Synapse's resync. Listeners are built with Synapse's own listener code."""

from synapse.app.generic_worker import GenericWorkerServer
from synapse.app.homeserver import SynapseHomeServer

from tests.integration.harness import ProcessTestCase
from tests.server import make_request

ROOMS = "/_synapse/admin/v1/msc_extensions/partial_state_rooms"


class _ProcessTests(ProcessTestCase):
    admin_code: int
    loop_runs: bool

    def test_admin_api_served_only_on_the_main_process(self) -> None:
        site = self.listen(["client"])
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


del _ProcessTests
