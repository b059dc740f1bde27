"""The benchmarks' table says what its ratio column is (no timing is asserted)."""

from twisted.trial import unittest

from benchmarks import BenchOptions, Comparison, format_table


class RatioColumnTestCase(unittest.TestCase):
    def test_a_latency_against_a_target_is_not_called_a_speed_up(self) -> None:
        row = Comparison(
            "A returns",
            "configured resync_interval (6 s)",
            "time to full state",
            baseline_seconds=[6.0],
            candidate_seconds=[4.8],
            candidate_over_baseline="latency / interval",
        )
        table = format_table("msc3902", BenchOptions(), [row])
        self.assertIn("latency / interval", table.splitlines()[1])
        self.assertNotIn("speed-up", table)
        self.assertIn("0.80x", table)

    def test_two_ways_of_doing_the_same_work_show_the_speed_up(self) -> None:
        row = Comparison("batch", "one by one", "one batch", [2.0], [0.5])
        table = format_table("msc3192", BenchOptions(), [row])
        self.assertIn("speed-up", table.splitlines()[1])
        self.assertIn("4.0x", table)
