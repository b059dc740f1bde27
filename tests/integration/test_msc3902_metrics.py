"""MSC3902 point 8: Prometheus metrics, in the registry Synapse exposes."""

from prometheus_client import REGISTRY

from tests.integration.test_msc3902_fixture import PartialStateTestCase

PREFIX = "synapse_msc_extensions_partial_state"


class ResyncMetricsTestCase(PartialStateTestCase):
    module_settings = {"msc3902": {"resync_interval": "1m"}}

    def sample(self, name: str) -> float:
        value = REGISTRY.get_sample_value(name, {"server_name": self.hs.hostname})
        return value or 0.0

    def test_rooms_attempts_failures_successes_and_time_to_full_state(self) -> None:
        before = {
            key: self.sample(f"{PREFIX}_{key}")
            for key in (
                "resync_attempts_total",
                "resync_failures_total",
                "resync_successes_total",
                "seconds_to_full_state_count",
                "seconds_to_full_state_sum",
            )
        }

        def delta(key: str) -> float:
            return self.sample(f"{PREFIX}_{key}") - before[key]

        self.join_partial()
        self.advance_ms(61_000)  # one failed retry by the loop
        self.assertEqual(self.sample("synapse_msc_extensions_partial_state_rooms"), 1)
        self.assertEqual(delta("resync_attempts_total"), 2)
        self.assertEqual(delta("resync_failures_total"), 2)
        self.assertEqual(delta("resync_successes_total"), 0)

        self.remote_up = True
        self.advance_ms(3 * 60_000)
        self.assertFalse(self.is_partial())
        self.assertEqual(delta("resync_attempts_total"), 3)
        self.assertEqual(delta("resync_failures_total"), 2)
        self.assertEqual(delta("resync_successes_total"), 1)
        self.assertEqual(delta("seconds_to_full_state_count"), 1)
        # Joined, failed, retried after 1 minute, failed, retried after 2 more.
        seconds = delta("seconds_to_full_state_sum")
        self.assertTrue(170 <= seconds <= 200, seconds)
        self.assertEqual(self.sample("synapse_msc_extensions_partial_state_rooms"), 0)

    def test_the_oldest_room_age_grows_until_full_state_then_is_zero(self) -> None:
        age = "synapse_msc_extensions_partial_state_oldest_room_age_seconds"
        self.assertEqual(self.sample(age), 0)
        self.join_partial()
        self.advance_ms(61_000)
        first = self.sample(age)
        # Joined about 61 s ago (the join event's timestamp, on this clock).
        self.assertTrue(55 <= first <= 65, first)
        self.advance_ms(30_000)
        self.assertAlmostEqual(self.sample(age) - first, 30, delta=1)

        self.remote_up = True
        self.advance_ms(3 * 60_000)
        self.assertFalse(self.is_partial())
        self.assertEqual(self.sample(age), 0)
