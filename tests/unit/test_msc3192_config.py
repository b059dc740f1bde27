"""The ``msc3192`` config section."""

from typing import Any

from synapse.module_api.errors import ConfigError
from twisted.trial import unittest

from msc_extensions.config_reader import SectionReader
from msc_extensions.msc3192.config import Msc3192Config


def parse(raw: Any) -> Msc3192Config:
    return Msc3192Config.from_section(SectionReader(raw, ("msc3192",)))


class Msc3192ConfigTestCase(unittest.TestCase):
    def assert_error(self, raw: Any, path: tuple[str, ...], fragment: str) -> None:
        with self.assertRaises(ConfigError) as raised:
            parse(raw)
        self.assertEqual(tuple(raised.exception.path or ()), path)
        self.assertIn(fragment, raised.exception.msg)

    def test_defaults(self) -> None:
        config = parse({})
        self.assertTrue(config.enabled)
        self.assertEqual(config.max_events, 50)
        self.assertEqual(config.rate_limit.per_second, 0.5)
        self.assertEqual(config.rate_limit.burst_count, 5)

    def test_values(self) -> None:
        config = parse(
            {
                "enabled": False,
                "max_events": 10,
                "max_body_bytes": 2048,
                "rate_limit": {"per_second": 2, "burst_count": 20},
            }
        )
        self.assertFalse(config.enabled)
        self.assertEqual(config.max_events, 10)
        self.assertEqual(config.max_body_bytes, 2048)
        self.assertEqual(config.rate_limit.per_second, 2.0)
        self.assertEqual(config.rate_limit.burst_count, 20)

    def test_max_events_is_at_most_50(self) -> None:
        self.assert_error({"max_events": 51}, ("msc3192", "max_events"), "at most 50")
        self.assert_error({"max_events": 0}, ("msc3192", "max_events"), "at least 1")

    def test_rate_limit_must_be_positive(self) -> None:
        self.assert_error(
            {"rate_limit": {"per_second": 0}},
            ("msc3192", "rate_limit", "per_second"),
            "at least",
        )
        self.assert_error(
            {"rate_limit": {"burst_count": 0}},
            ("msc3192", "rate_limit", "burst_count"),
            "at least 1",
        )

    def test_unknown_keys_are_errors(self) -> None:
        self.assert_error({"max_event": 5}, ("msc3192", "max_event"), "unknown key")
        self.assert_error(
            {"rate_limit": {"rate": 1}}, ("msc3192", "rate_limit", "rate"), "unknown"
        )

    def test_wrong_types_are_errors(self) -> None:
        self.assert_error({"max_events": "50"}, ("msc3192", "max_events"), "integer")
        self.assert_error({"rate_limit": 5}, ("msc3192", "rate_limit"), "mapping")

    def test_remote_invites(self) -> None:
        config = parse({})
        self.assertEqual(config.remote_invites.concurrency, 10)
        self.assertEqual(config.remote_invites.timeout_ms, 10_000)
        config = parse({"remote_invites": {"concurrency": 3, "timeout": "2s"}})
        self.assertEqual(config.remote_invites.concurrency, 3)
        self.assertEqual(config.remote_invites.timeout_ms, 2000)
        self.assert_error(
            {"remote_invites": {"concurrency": 0}},
            ("msc3192", "remote_invites", "concurrency"),
            "at least 1",
        )
        self.assert_error(
            {"remote_invites": {"concurrency": 51}},
            ("msc3192", "remote_invites", "concurrency"),
            "at most 50",
        )
        self.assert_error(
            {"remote_invites": {"timeout": "soon"}},
            ("msc3192", "remote_invites", "timeout"),
            "expected a duration",
        )
        self.assert_error(
            {"remote_invites": {"timeout": 10}},
            ("msc3192", "remote_invites", "timeout"),
            "at least 100 ms",
        )
        self.assert_error(
            {"remote_invites": {"parallel": 2}},
            ("msc3192", "remote_invites", "parallel"),
            "unknown key",
        )
