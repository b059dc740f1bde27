"""The module's configuration: one section per proposal, parsed at start-up.

An empty configuration enables every feature with its defaults. A wrong key, type or
value raises ``ConfigError`` naming the key path, and Synapse refuses to start.
Features with settings beyond ``enabled`` keep their own config class in their own
package; :class:`FeatureToggleConfig` serves those that need nothing else.
"""

from collections.abc import Mapping
from typing import Any

import attr

from msc_extensions.config_reader import SectionReader
from msc_extensions.msc3192.config import Msc3192Config
from msc_extensions.partial_state.config import Msc3895Config, Msc3902Config


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FeatureToggleConfig:
    """A section whose only setting is ``enabled``."""

    enabled: bool = True

    @classmethod
    def from_section(cls, reader: SectionReader) -> "FeatureToggleConfig":
        config = cls(enabled=reader.read_bool("enabled", True))
        reader.finish()
        return config


@attr.s(frozen=True, slots=True, auto_attribs=True)
class MscExtensionsConfig:
    msc3192: Msc3192Config = Msc3192Config()
    msc4046: FeatureToggleConfig = FeatureToggleConfig()
    msc2314: FeatureToggleConfig = FeatureToggleConfig()
    msc3895: Msc3895Config = Msc3895Config()
    msc3902: Msc3902Config = Msc3902Config()

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> "MscExtensionsConfig":
        reader = SectionReader(raw)
        config = cls(
            msc3192=Msc3192Config.from_section(reader.section("msc3192")),
            msc4046=FeatureToggleConfig.from_section(reader.section("msc4046")),
            msc2314=FeatureToggleConfig.from_section(reader.section("msc2314")),
            msc3895=Msc3895Config.from_section(reader.section("msc3895")),
            msc3902=Msc3902Config.from_section(reader.section("msc3902")),
        )
        reader.finish()
        return config
