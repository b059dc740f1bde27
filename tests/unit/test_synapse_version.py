"""The module refuses Synapse releases older than its private APIs support."""

from unittest import mock

import synapse
from synapse.module_api.errors import ConfigError
from twisted.trial import unittest

from msc_extensions import MscExtensions
from msc_extensions._synapse_private.resources import synapse_version


class SynapseVersionTestCase(unittest.TestCase):
    def test_older_synapse_refuses_to_load(self) -> None:
        with mock.patch.object(synapse, "__version__", "1.139.0"):
            with self.assertRaises(ConfigError) as raised:
                MscExtensions.parse_config({})
        self.assertIn("needs Synapse 1.140.0 or newer", raised.exception.msg)
        self.assertIn("1.139.0", raised.exception.msg)

    def test_every_release_of_the_supported_range_loads_quietly(self) -> None:
        for version in ("1.140.0", "1.151.0", "1.163.2"):
            with mock.patch.object(synapse, "__version__", version):
                with self.assertNoLogs("msc_extensions.module", level="WARNING"):
                    MscExtensions.parse_config({})

    def test_newer_minor_release_loads_with_a_warning(self) -> None:
        with mock.patch.object(synapse, "__version__", "1.170.0"):
            with self.assertLogs("msc_extensions.module", level="WARNING") as logs:
                MscExtensions.parse_config({})
        self.assertIn("tested up to Synapse 1.163.x", logs.output[0])

    def test_release_candidates_are_parsed(self) -> None:
        with mock.patch.object(synapse, "__version__", "1.163.0rc1"):
            self.assertEqual(synapse_version(), (1, 163, 0))
