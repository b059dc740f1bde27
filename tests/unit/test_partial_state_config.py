"""The msc3895 and msc3902 config sections, the back-off arithmetic and the
try-the-next-server helper: no homeserver needed."""

from typing import Any

from synapse.api.errors import HttpResponseException, SynapseError
from synapse.module_api.errors import ConfigError
from twisted.internet import defer
from twisted.trial import unittest

from msc_extensions import MscExtensions
from msc_extensions.msc3895.config import Msc3895Config
from msc_extensions.msc3902.backoff import next_delay_ms
from msc_extensions.msc3902.config import Msc3902Config
from msc_extensions.partial_state.errcodes import (
    STABLE_ERRCODE,
    UNSTABLE_ERRCODE,
    DestinationsExhausted,
    first_answer,
    is_partial_state_error,
)


class PartialStateConfigTestCase(unittest.TestCase):
    def assert_config_error(self, raw: Any, path: tuple[str, ...], text: str) -> None:
        with self.assertRaises(ConfigError) as raised:
            MscExtensions.parse_config(raw)
        self.assertEqual(tuple(raised.exception.path or ()), path)
        self.assertIn(text, raised.exception.msg)

    def test_defaults(self) -> None:
        config = MscExtensions.parse_config({})
        self.assertEqual(config.section_of(Msc3895Config).errcode, UNSTABLE_ERRCODE)
        self.assertEqual(config.section_of(Msc3902Config).resync_interval_ms, 60_000)
        self.assertEqual(
            config.section_of(Msc3902Config).max_resync_interval_ms, 3_600_000
        )

    def test_errcode_choice(self) -> None:
        config = MscExtensions.parse_config({"msc3895": {"errcode": "stable"}})
        self.assertEqual(config.section_of(Msc3895Config).errcode, STABLE_ERRCODE)
        self.assert_config_error(
            {"msc3895": {"errcode": "M_X"}}, ("msc3895", "errcode"), "stable, unstable"
        )

    def test_durations_in_synapse_forms(self) -> None:
        config = MscExtensions.parse_config(
            {"msc3902": {"resync_interval": "30s", "max_resync_interval": 120000}}
        )
        self.assertEqual(config.section_of(Msc3902Config).resync_interval_ms, 30_000)
        self.assertEqual(
            config.section_of(Msc3902Config).max_resync_interval_ms, 120_000
        )
        # A long interval raises the default maximum with it.
        config = MscExtensions.parse_config({"msc3902": {"resync_interval": "2h"}})
        self.assertEqual(
            config.section_of(Msc3902Config).max_resync_interval_ms, 7_200_000
        )

    def test_bad_durations_name_the_key(self) -> None:
        self.assert_config_error(
            {"msc3902": {"resync_interval": "soon"}},
            ("msc3902", "resync_interval"),
            "expected a duration",
        )
        self.assert_config_error(
            {"msc3902": {"resync_interval": "5m", "max_resync_interval": "1m"}},
            ("msc3902", "max_resync_interval"),
            "at least resync_interval",
        )
        self.assert_config_error(
            {"msc3902": {"interval": "5m"}}, ("msc3902", "interval"), "unknown key"
        )


class BackoffTestCase(unittest.TestCase):
    def test_doubles_from_the_interval_to_the_maximum(self) -> None:
        delays = [next_delay_ms(n, 60_000, 3_600_000) for n in range(1, 10)]
        self.assertEqual(
            delays,
            [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000] + [3_600_000] * 3,
        )
        self.assertEqual(next_delay_ms(10_000, 60_000, 3_600_000), 3_600_000)


def _remote_error(code: int, errcode: str) -> HttpResponseException:
    body = f'{{"errcode": "{errcode}", "error": "x"}}'.encode()
    return HttpResponseException(code, "x", body)


class FirstAnswerTestCase(unittest.TestCase):
    def test_recognises_both_spellings_from_remotes(self) -> None:
        for errcode in (UNSTABLE_ERRCODE, STABLE_ERRCODE):
            self.assertTrue(is_partial_state_error(_remote_error(403, errcode)))
            self.assertTrue(is_partial_state_error(SynapseError(403, "x", errcode)))
        self.assertFalse(is_partial_state_error(_remote_error(403, "M_FORBIDDEN")))
        self.assertFalse(is_partial_state_error(ValueError()))

    def test_tries_the_next_server_and_keeps_partial_apart_from_down(self) -> None:
        asked: list[str] = []

        async def call(destination: str) -> str:
            asked.append(destination)
            if destination == "partial.example":
                raise _remote_error(403, STABLE_ERRCODE)
            if destination == "down.example":
                raise _remote_error(502, "M_UNKNOWN")
            return f"answer from {destination}"

        result = self.successResultOf(
            defer.ensureDeferred(
                first_answer(["partial.example", "down.example", "up.example"], call)
            )
        )
        self.assertEqual(result, ("up.example", "answer from up.example"))
        self.assertEqual(asked, ["partial.example", "down.example", "up.example"])

        failure = self.failureResultOf(
            defer.ensureDeferred(
                first_answer(["partial.example", "down.example"], call)
            ),
            DestinationsExhausted,
        )
        self.assertEqual(failure.value.partial_state, ("partial.example",))
        self.assertEqual([d for d, _ in failure.value.failed], ["down.example"])
