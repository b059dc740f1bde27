"""The module class Synapse loads: it parses config and wires the registry's
features in, nothing else."""

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import synapse
from synapse.module_api import ModuleApi
from synapse.module_api.errors import ConfigError

from msc_extensions._synapse_private.resources import (
    NEWEST_TESTED_SYNAPSE,
    OLDEST_SUPPORTED_SYNAPSE,
    homeserver_of,
    synapse_version,
)
from msc_extensions.config import ModuleConfig
from msc_extensions.feature import Feature, FeatureContext, FeatureSpec
from msc_extensions.msc3895.config import Msc3895Config
from msc_extensions.partial_state.service import PartialStateService
from msc_extensions.registry import FEATURES
from msc_extensions.routing import FeatureRouter
from msc_extensions.status import ModuleStatusFeature
from msc_extensions.transactions.service import PersistedTransactions

logger = logging.getLogger(__name__)


class MscExtensions:
    """Enable with ``module: msc_extensions.MscExtensions`` in ``homeserver.yaml``."""

    #: The features this module class serves (the registry); tests serve more.
    FEATURES: ClassVar[Sequence[FeatureSpec[Any]]] = FEATURES

    def __init__(self, config: ModuleConfig, api: ModuleApi) -> None:
        hs = homeserver_of(api)
        transactions = PersistedTransactions(api, hs)
        transactions.start()
        context = FeatureContext(
            api=api,
            hs=hs,
            partial_state=PartialStateService(
                hs, errcode=config.section_of(Msc3895Config).errcode
            ),
            transactions=transactions,
        )
        self._features = build_features(self.FEATURES, config, context)
        status = ModuleStatusFeature(api, self._features, config.sections)
        FeatureRouter(hs, [status, *self._features]).install()
        logger.info(
            "msc_extensions loaded on %s with features %s",
            api.worker_name or "the main process",
            ", ".join(f.name for f in self._features) or "none",
        )

    @classmethod
    def parse_config(cls, config: Mapping[str, Any]) -> ModuleConfig:
        check_synapse_version()
        return ModuleConfig.from_config(config, cls.FEATURES)


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


def build_features(
    specs: Sequence[FeatureSpec[Any]], config: ModuleConfig, context: FeatureContext
) -> list[Feature]:
    """The features this homeserver serves: each registered one whose section is
    enabled."""
    return [
        spec.build(context, config[spec.name])
        for spec in specs
        if config[spec.name].enabled
    ]
