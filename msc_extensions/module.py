"""The module class Synapse loads: it only parses config and wires features in."""

import logging
from typing import Any

import synapse
from synapse.module_api import ModuleApi
from synapse.module_api.errors import ConfigError

from msc_extensions._synapse_private.resources import (
    NEWEST_TESTED_SYNAPSE,
    OLDEST_SUPPORTED_SYNAPSE,
    homeserver_of,
    synapse_version,
)
from msc_extensions.config import MscExtensionsConfig
from msc_extensions.feature import Feature
from msc_extensions.routing import FeatureRouter
from msc_extensions.status import ModuleStatusFeature

logger = logging.getLogger(__name__)


class MscExtensions:
    """Enable with ``module: msc_extensions.MscExtensions`` in ``homeserver.yaml``."""

    def __init__(self, config: MscExtensionsConfig, api: ModuleApi) -> None:
        self._config = config
        self._api = api
        hs = homeserver_of(api)
        self._features = build_features(config, api)
        FeatureRouter(hs, self._features).install()
        logger.info(
            "msc_extensions loaded on %s with features %s",
            api.worker_name or "the main process",
            ", ".join(f.name for f in self._features),
        )

    @staticmethod
    def parse_config(config: dict[str, Any]) -> MscExtensionsConfig:
        check_synapse_version()
        return MscExtensionsConfig.from_config(config)


def check_synapse_version() -> None:
    running = synapse_version()
    if running < OLDEST_SUPPORTED_SYNAPSE:
        oldest = ".".join(map(str, OLDEST_SUPPORTED_SYNAPSE))
        raise ConfigError(
            f"msc_extensions needs Synapse {oldest} or newer; "
            f"this is Synapse {synapse.__version__}"
        )
    if running[:2] > NEWEST_TESTED_SYNAPSE:
        logger.warning(
            "msc_extensions has been tested up to Synapse %s.x; this is Synapse %s",
            ".".join(map(str, NEWEST_TESTED_SYNAPSE)),
            synapse.__version__,
        )


def build_features(config: MscExtensionsConfig, api: ModuleApi) -> list[Feature]:
    """The features this homeserver serves, from its configuration."""
    enabled_by_feature = {
        "msc3192": config.msc3192.enabled,
        "msc4046": config.msc4046.enabled,
        "msc2314": config.msc2314.enabled,
        "msc3895": config.msc3895.enabled,
        "msc3902": config.msc3902.enabled,
    }
    features: list[Feature] = [ModuleStatusFeature(api, enabled_by_feature)]
    if config.msc3192.enabled:
        from msc_extensions.msc3192.feature import Msc3192Feature

        features.append(Msc3192Feature(api, config.msc3192))
    if config.msc3895.enabled:
        from msc_extensions.partial_state.federation import Msc3895Feature

        features.append(Msc3895Feature(api, config.msc3895))
    if config.msc3902.enabled:
        from msc_extensions.partial_state.feature import Msc3902Feature

        features.append(Msc3902Feature(api, config.msc3902))
    return features
