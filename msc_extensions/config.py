"""The module's configuration: one section per registered feature, parsed at start-up.

An empty configuration enables every feature with its defaults. A wrong key, type or
value raises ``ConfigError`` naming the key path, and Synapse refuses to start. The
sections are the registry's (:mod:`msc_extensions.registry`); each feature parses its
own section with the function its registry line names.
"""

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import attr

from msc_extensions.config_reader import SectionReader
from msc_extensions.feature import FeatureSpec, SectionConfig

SectionT = TypeVar("SectionT")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FeatureToggleConfig:
    """A section whose only setting is ``enabled``."""

    enabled: bool = True

    @classmethod
    def from_section(cls, reader: SectionReader) -> "FeatureToggleConfig":
        config = cls(enabled=reader.read_bool("enabled", True))
        reader.finish()
        return config

    def as_section(self) -> dict[str, Any]:
        return {"enabled": self.enabled}


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ModuleConfig:
    """Every registered feature's parsed section, by section name."""

    sections: Mapping[str, SectionConfig]

    @classmethod
    def from_config(
        cls, raw: Mapping[str, Any] | None, specs: Sequence[FeatureSpec[Any]]
    ) -> "ModuleConfig":
        reader = SectionReader(raw)
        sections = {spec.name: spec.parse(reader.section(spec.name)) for spec in specs}
        reader.finish()
        return cls(sections)

    def __getitem__(self, name: str) -> SectionConfig:
        return self.sections[name]

    def section_of(self, config_class: type[SectionT]) -> SectionT:
        """The one section parsed into ``config_class``."""
        found = [s for s in self.sections.values() if isinstance(s, config_class)]
        if len(found) != 1:
            raise LookupError(f"{len(found)} sections are {config_class.__name__}")
        return found[0]
