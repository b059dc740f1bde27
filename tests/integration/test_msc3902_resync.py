"""MSC3902 point 6: the looping call brings stalled resyncs back to full state."""

from itertools import pairwise
from unittest.mock import patch

from twisted.internet.defer import Deferred

from tests.integration.test_msc3902_fixture import PartialStateTestCase

INTERVAL_MS = 60_000
MAX_MS = 8 * 60_000
# The loop looks for due rooms every quarter interval (at most 15 s).
TICK_MS = 15_000


class StalledResyncTestCase(PartialStateTestCase):
    module_settings = {
        "msc3902": {"resync_interval": "1m", "max_resync_interval": "8m"}
    }

    def test_loop_completes_a_resync_synapse_gave_up_on(self) -> None:
        self.join_partial()
        self.assertTrue(self.is_partial(), "the join-time resync should have failed")
        self.assertEqual(len(self.state_requests), 1)

        self.remote_up = True
        # Nothing before the interval is up.
        self.advance_ms(INTERVAL_MS - 5_000)
        self.assertEqual(len(self.state_requests), 1)
        self.assertTrue(self.is_partial())

        self.advance_ms(5_000 + TICK_MS)
        self.assertFalse(self.is_partial())
        self.assertEqual(self.joined_members(), {*self.members, self.alice_id})

    def test_back_off_doubles_up_to_the_maximum(self) -> None:
        self.join_partial()
        times: list[int] = []
        seen = len(self.state_requests)
        for _ in range(6 * 60):  # 6 hours of clock, a minute at a time
            self.advance_ms(60_000)
            if len(self.state_requests) > seen:
                seen = len(self.state_requests)
                times.append(self.clock.time_msec())
            if len(times) == 6:
                break
        gaps = [b - a for a, b in pairwise(times)]
        expected = [2 * INTERVAL_MS, 4 * INTERVAL_MS, MAX_MS, MAX_MS, MAX_MS]
        self.assertEqual(len(gaps), len(expected), times)
        for gap, want in zip(gaps, expected, strict=True):
            # One loop tick of slack, and the minute-sized steps of this test.
            self.assertGreaterEqual(gap, want - 60_000, gaps)
            self.assertLessEqual(gap, want + TICK_MS + 60_000, gaps)
        self.assertTrue(self.is_partial())

    def test_never_two_resyncs_at_once(self) -> None:
        self.hold_state_requests = Deferred()
        self.remote_up = True
        self.join_partial()
        self.assertEqual(len(self.state_requests), 1)

        # The join-time resync hangs; the loop must not start another.
        self.advance_ms(5 * INTERVAL_MS)
        self.assertEqual(len(self.state_requests), 1)
        code, body = self.request_json(
            "POST",
            f"/_synapse/admin/v1/msc_extensions/partial_state_rooms/{self.room_id}/resync",
            access_token=self.admin_token,
        )
        self.assertEqual(code, 409, body)
        self.assertEqual(len(self.state_requests), 1)

        held, self.hold_state_requests = self.hold_state_requests, None
        held.callback(None)
        self.advance_ms(1_000)
        self.assertFalse(self.is_partial())
        self.assertEqual(len(self.state_requests), 1)

    def test_destinations_include_servers_believed_in_the_room_now(self) -> None:
        self.join_partial()
        # A server that joined after us, known from the current membership.
        store = self.hs.get_datastores().main
        synapse_hosts = store.get_current_hosts_in_room

        async def current_hosts(room_id: str) -> frozenset[str]:
            hosts = await synapse_hosts(room_id)
            return frozenset(hosts) | {"third.example.com"}

        # Keep the cache's invalidation hooks, which persisting events calls.
        for name in ("invalidate", "invalidate_all", "prefill", "cache"):
            if hasattr(synapse_hosts, name):
                setattr(current_hosts, name, getattr(synapse_hosts, name))

        self.answering = {"third.example.com"}
        with patch.object(store, "get_current_hosts_in_room", current_hosts):
            self.advance_ms(INTERVAL_MS + TICK_MS)
        self.assertIn("third.example.com", {d for d, _ in self.state_requests})
        self.assertFalse(self.is_partial())

    def test_synapse_retry_back_off_does_not_keep_the_room_partial(self) -> None:
        self.join_partial()
        # Synapse backs off from the only server for an hour ...
        self.put_in_retry_backoff(self.OTHER_SERVER_NAME, 60 * 60_000)
        # ... which comes back a minute later.
        self.remote_up = True
        self.advance_ms(INTERVAL_MS + TICK_MS)

        self.assertIn(self.OTHER_SERVER_NAME, self.probes)
        self.assertFalse(self.in_retry_backoff(self.OTHER_SERVER_NAME))
        self.assertFalse(self.is_partial())

    def test_a_request_from_a_backed_off_server_makes_its_rooms_due(self) -> None:
        self.join_partial()
        # Fail long enough that the room's own back-off reaches the maximum.
        self.advance_ms(INTERVAL_MS * 16)
        attempts = len(self.state_requests)
        self.assertGreaterEqual(attempts, 4)
        self.put_in_retry_backoff(self.OTHER_SERVER_NAME, 60 * 60_000)
        self.remote_up = True

        # The server sends us something signed: Synapse marks it up again.
        code, _ = self.signed_request_from(
            self.OTHER_SERVER_NAME,
            "GET",
            f"/_matrix/federation/v1/event/{self.alice_join.event_id}",
        )
        self.assertEqual(code, 200)
        self.advance_ms(2_000)

        self.assertGreater(len(self.state_requests), attempts)
        self.assertFalse(self.is_partial())

    def test_an_unreachable_server_that_returns_silently_is_found_within_an_interval(
        self,
    ) -> None:
        self.unreachable = True
        self.join_partial()
        # Unreachable for an hour: the room's own back-off reaches 8 minutes.
        self.advance_ms(60 * 60_000, step_ms=10_000)
        self.assertTrue(self.is_partial())
        _, body = self.request_json(
            "GET",
            "/_synapse/admin/v1/msc_extensions/partial_state_rooms",
            access_token=self.admin_token,
        )
        (room,) = body["rooms"]
        self.assertGreaterEqual(room["consecutive_failures"], 5)
        # It comes back, sending us nothing. A probe finds it within an interval
        # (plus a loop tick), well before the room's next attempt.
        self.remote_up = True
        self.advance_ms(INTERVAL_MS + TICK_MS, step_ms=1_000)
        self.assertFalse(self.is_partial())

    def test_a_server_answering_with_errors_keeps_the_exponential_back_off(
        self,
    ) -> None:
        self.join_partial()
        self.advance_ms(60 * 60_000, step_ms=10_000)
        requests = len(self.state_requests)
        # It answers 502 to state requests, yet its /version works: probing it
        # must not turn the back-off into one attempt per interval.
        self.advance_ms(4 * INTERVAL_MS, step_ms=1_000)
        self.assertLessEqual(len(self.state_requests) - requests, 1)


class LoopDisabledTestCase(PartialStateTestCase):
    module_settings = {"msc3902": {"enabled": False}}

    def test_without_the_loop_the_room_stays_partial(self) -> None:
        self.join_partial()
        self.remote_up = True
        self.advance_ms(3 * 60 * 60_000, step_ms=60_000)
        self.assertTrue(self.is_partial())
        self.assertEqual(len(self.state_requests), 1)
