"""Configuration parsing: no homeserver needed."""

from typing import Any

from synapse.module_api.errors import ConfigError
from twisted.trial import unittest

from msc_extensions import MscExtensions
from msc_extensions.config import ModuleConfig
from msc_extensions.config_reader import SectionReader
from msc_extensions.registry import FEATURES

SECTIONS = ("msc3192", "msc4046", "msc2314", "msc3895", "msc3902")


class ModuleConfigTestCase(unittest.TestCase):
    def assert_config_error(
        self, raw: Any, path: tuple[str, ...], fragment: str
    ) -> None:
        with self.assertRaises(ConfigError) as raised:
            MscExtensions.parse_config(raw)
        self.assertEqual(tuple(raised.exception.path or ()), path)
        self.assertIn(fragment, raised.exception.msg)

    def test_empty_config_enables_every_feature(self) -> None:
        raw: dict[str, Any] | None
        for raw in ({}, None):
            config = MscExtensions.parse_config(raw)  # type: ignore[arg-type]
            for section in SECTIONS:
                self.assertTrue(config[section].enabled, section)

    def test_each_feature_can_be_disabled(self) -> None:
        for section in SECTIONS:
            config = MscExtensions.parse_config({section: {"enabled": False}})
            self.assertFalse(config[section].enabled, section)
            others = [s for s in SECTIONS if s != section]
            self.assertTrue(all(config[s].enabled for s in others))

    def test_unknown_top_level_key_is_an_error(self) -> None:
        self.assert_config_error({"msc9999": {}}, ("msc9999",), "unknown key")

    def test_unknown_key_in_a_section_names_its_path(self) -> None:
        self.assert_config_error(
            {"msc3902": {"enabled": True, "no_such_key": 1}},
            ("msc3902", "no_such_key"),
            "unknown key",
        )

    def test_wrong_type_names_the_key(self) -> None:
        self.assert_config_error(
            {"msc3192": {"enabled": "yes"}}, ("msc3192", "enabled"), "true or false"
        )

    def test_section_must_be_a_mapping(self) -> None:
        self.assert_config_error({"msc4046": ["enabled"]}, ("msc4046",), "mapping")

    def test_config_must_be_a_mapping(self) -> None:
        with self.assertRaises(ConfigError):
            ModuleConfig.from_config(["msc3192"], FEATURES)  # type: ignore[arg-type]

    def test_config_is_frozen(self) -> None:
        config = MscExtensions.parse_config({})
        with self.assertRaises(AttributeError):
            config.sections = {}  # type: ignore[misc]


class SectionReaderTestCase(unittest.TestCase):
    def reader(self, **values: Any) -> SectionReader:
        return SectionReader(values, ("section",))

    def test_durations_take_synapse_forms(self) -> None:
        cases = {
            "30s": 30_000,
            "5m": 300_000,
            "1h": 3_600_000,
            1500: 1500,
            "2d": 172_800_000,
        }
        for given, expected in cases.items():
            self.assertEqual(self.reader(d=given).read_duration_ms("d", 1), expected)

    def test_duration_default_when_absent(self) -> None:
        self.assertEqual(self.reader().read_duration_ms("d", 60_000), 60_000)

    def test_bad_durations_name_the_key(self) -> None:
        for bad in ("soon", "5x", True, [5], 0, -1000):
            with self.assertRaises(ConfigError) as raised:
                self.reader(d=bad).read_duration_ms("d", 1)
            self.assertEqual(tuple(raised.exception.path or ()), ("section", "d"), bad)

    def test_int_bounds(self) -> None:
        reader = self.reader(n=51)
        with self.assertRaises(ConfigError) as raised:
            reader.read_int("n", 50, minimum=1, maximum=50)
        self.assertIn("at most 50", raised.exception.msg)
        with self.assertRaises(ConfigError):
            self.reader(n=True).read_int("n", 1)
        with self.assertRaises(ConfigError):
            self.reader(n=1.5).read_int("n", 1)

    def test_float_accepts_ints_but_not_bools(self) -> None:
        self.assertEqual(self.reader(f=2).read_float("f", 1.0), 2.0)
        with self.assertRaises(ConfigError):
            self.reader(f=False).read_float("f", 1.0)

    def test_choice(self) -> None:
        self.assertEqual(
            self.reader(c="stable").read_choice(
                "c", "unstable", ("stable", "unstable")
            ),
            "stable",
        )
        with self.assertRaises(ConfigError) as raised:
            self.reader(c="other").read_choice("c", "unstable", ("stable", "unstable"))
        self.assertIn("stable, unstable", raised.exception.msg)


class Msc2314ConfigTestCase(unittest.TestCase):
    def test_defaults(self) -> None:
        from msc_extensions.msc2314.config import Msc2314Config

        config = MscExtensions.parse_config({}).section_of(Msc2314Config)
        self.assertTrue(config.v1_without_event_id)
        self.assertEqual(config.cache_window_ms, 60_000)
        self.assertEqual((config.rate_per_second, config.rate_burst_count), (1.0, 10))
        self.assertEqual(config.recovery_wait_ms, 5_000)

    def test_settings_are_read_and_checked(self) -> None:
        from msc_extensions.msc2314.config import Msc2314Config

        config = MscExtensions.parse_config(
            {
                "msc2314": {
                    "v1_without_event_id": False,
                    "cache_window": "2m",
                    "rate_limit": {"per_second": 0.5, "burst_count": 3},
                    "recovery_wait": 0,
                }
            }
        ).section_of(Msc2314Config)
        self.assertFalse(config.v1_without_event_id)
        self.assertEqual(config.cache_window_ms, 120_000)
        self.assertEqual((config.rate_per_second, config.rate_burst_count), (0.5, 3))
        self.assertEqual(config.recovery_wait_ms, 0)
        for raw, path in (
            ({"v1_without_event_id": "no"}, ("msc2314", "v1_without_event_id")),
            ({"cache_window": "soon"}, ("msc2314", "cache_window")),
            (
                {"rate_limit": {"burst_count": 0}},
                ("msc2314", "rate_limit", "burst_count"),
            ),
            ({"rate_limit": {"per_sec": 1}}, ("msc2314", "rate_limit", "per_sec")),
        ):
            with self.assertRaises(ConfigError) as raised:
                MscExtensions.parse_config({"msc2314": raw})
            self.assertEqual(tuple(raised.exception.path or ()), path)


class RateLimitFloorTestCase(unittest.TestCase):
    """Both rate limits take at least one request every 1000 seconds (0.001 per
    second), as docs/configuration.md says."""

    def test_per_second_below_0_001_is_refused(self) -> None:
        for section in ("msc3192", "msc2314"):
            with self.assertRaises(ConfigError) as raised:
                MscExtensions.parse_config(
                    {section: {"rate_limit": {"per_second": 0.0005}}}
                )
            self.assertEqual(
                tuple(raised.exception.path or ()),
                (section, "rate_limit", "per_second"),
            )
            self.assertIn("at least 0.001", raised.exception.msg)

    def test_per_second_of_0_001_is_accepted(self) -> None:
        config = MscExtensions.parse_config(
            {
                "msc3192": {"rate_limit": {"per_second": 0.001}},
                "msc2314": {"rate_limit": {"per_second": 0.001}},
            }
        )
        self.assertEqual(
            config["msc3192"].as_section()["rate_limit"]["per_second"], 0.001
        )
        self.assertEqual(
            config["msc2314"].as_section()["rate_limit"]["per_second"], 0.001
        )


class EffectiveSettingsTestCase(unittest.TestCase):
    """``as_section``, which ``/status`` shows: every setting, in the config's own
    keys, and parsing it again gives the same config."""

    SETTINGS: dict[str, Any] = {
        "msc3192": {
            "max_events": 20,
            "rate_limit": {"per_second": 0.2},
            "remote_invites": {"timeout": "5s"},
        },
        "msc2314": {"cache_window": "2m", "recovery_wait": 0},
        "msc3895": {"errcode": "stable"},
        "msc3902": {"resync_interval": "30s"},
        "msc4046": {"enabled": False},
    }

    def test_every_section_round_trips(self) -> None:
        for raw in ({}, self.SETTINGS):
            config = MscExtensions.parse_config(raw)
            shown = {name: config[name].as_section() for name in SECTIONS}
            self.assertEqual(MscExtensions.parse_config(shown), config, raw)

    def test_defaults_are_filled_in_and_durations_are_milliseconds(self) -> None:
        config = MscExtensions.parse_config(self.SETTINGS)
        self.assertEqual(
            config["msc3192"].as_section(),
            {
                "enabled": True,
                "max_events": 20,
                "max_body_bytes": 3342336,
                "rate_limit": {"per_second": 0.2, "burst_count": 5},
                "remote_invites": {"concurrency": 10, "timeout": 5_000},
            },
        )
        self.assertEqual(
            config["msc2314"].as_section(),
            {
                "enabled": True,
                "v1_without_event_id": True,
                "cache_window": 120_000,
                "rate_limit": {"per_second": 1.0, "burst_count": 10},
                "recovery_wait": 0,
            },
        )
        self.assertEqual(
            config["msc3895"].as_section(), {"enabled": True, "errcode": "stable"}
        )
        self.assertEqual(
            config["msc3902"].as_section(),
            {
                "enabled": True,
                "resync_interval": 30_000,
                "max_resync_interval": 3_600_000,
            },
        )
        self.assertEqual(config["msc4046"].as_section(), {"enabled": False})
