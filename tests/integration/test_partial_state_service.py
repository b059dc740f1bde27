"""The one partial-state service of a homeserver: it patches Synapse only when a
feature asks, at most once, and tells every subscriber."""

from twisted.internet.defer import Deferred

from msc_extensions.partial_state.errcodes import UNSTABLE_ERRCODE
from msc_extensions.partial_state.service import PartialStateService
from tests.integration.test_msc3902_fixture import PartialStateTestCase


class RecordingObserver:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, type[BaseException] | None]] = []

    def on_resync_started(self, room_id: str) -> None:
        self.events.append(("started", room_id, None))

    def on_resync_finished(self, room_id: str, error: BaseException | None) -> None:
        self.events.append(("finished", room_id, type(error) if error else None))


class PartialStateServiceTestCase(PartialStateTestCase):
    # Nothing asks the module's own service for hooks: this test's service does.
    module_settings = {"msc3902": {"enabled": False}}

    def service(self) -> PartialStateService:
        return PartialStateService(self.hs, errcode=UNSTABLE_ERRCODE)

    def test_synapse_is_untouched_until_a_feature_asks(self) -> None:
        self.service()
        handler = self.hs.get_federation_handler()
        notifier = self.hs.get_notifier()
        # Synapse's own bound methods, not wrappers.
        self.assertTrue(hasattr(handler._sync_partial_state_room, "__self__"))
        self.assertTrue(hasattr(notifier.notify_remote_server_up, "__self__"))

    def test_one_hook_tells_every_observer(self) -> None:
        service = self.service()
        first, second = RecordingObserver(), RecordingObserver()
        service.observe_resyncs(first)
        handler = self.hs.get_federation_handler()
        hook = handler._sync_partial_state_room
        service.observe_resyncs(second)
        self.assertIs(handler._sync_partial_state_room, hook)

        self.join_partial()  # the join-time resync fails: the remote is down
        self.assertEqual(
            [(what, room_id) for what, room_id, _ in first.events],
            [("started", self.room_id), ("finished", self.room_id)],
        )
        self.assertIsNotNone(first.events[-1][2])
        self.assertEqual(second.events, first.events)

    def test_hooks_are_installed_at_most_once_per_homeserver(self) -> None:
        self.service().observe_resyncs(RecordingObserver())
        with self.assertRaises(RuntimeError):
            self.service().observe_resyncs(RecordingObserver())

        servers: list[str] = []
        service = self.service()
        service.on_remote_server_up(servers.append)
        service.on_remote_server_up(servers.append)
        with self.assertRaises(RuntimeError):
            self.service().on_remote_server_up(servers.append)
        self.hs.get_notifier().notify_remote_server_up("up.example.com")
        self.assertEqual(servers, ["up.example.com", "up.example.com"])

    def test_cancel_resync_returns_once_the_resync_has_ended(self) -> None:
        service = self.service()
        observer = RecordingObserver()
        service.observe_resyncs(observer)
        self.hold_state_requests = Deferred()
        self.join_partial()
        self.assertTrue(service.resync_running(self.room_id))

        self.assertEqual(observer.events[-1][0], "started")
        self.assertTrue(self.get_success(service.cancel_resync(self.room_id)))
        # Synapse's resync has unwound, with the cancellation or what it made of it.
        what, room_id, error = observer.events[-1]
        self.assertEqual((what, room_id), ("finished", self.room_id))
        self.assertIsNotNone(error)
        self.assertFalse(self.get_success(service.cancel_resync(self.room_id)))

    def test_start_resync_refuses_a_second_one(self) -> None:
        service = self.service()
        self.hold_state_requests = Deferred()
        self.join_partial()
        self.assertFalse(service.start_resync(self.room_id, None, ["x.example.com"]))
        self.assertEqual(len(self.state_requests), 1)
        self.hold_state_requests.callback(None)
