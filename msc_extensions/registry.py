"""Every feature the module knows, one line each.

The config sections, the features built at start-up, ``/status`` and the flags on
``/_matrix/client/versions`` all come from this tuple. Adding a proposal is one new
package, one line here and its docs page (docs/architecture.md).
"""

from typing import Any

from msc_extensions.config import FeatureToggleConfig
from msc_extensions.feature import FeatureSpec
from msc_extensions.msc2314.config import Msc2314Config
from msc_extensions.msc2314.feature import Msc2314Feature
from msc_extensions.msc3192.config import Msc3192Config
from msc_extensions.msc3192.feature import Msc3192Feature
from msc_extensions.msc3895.config import Msc3895Config
from msc_extensions.msc3895.feature import Msc3895Feature
from msc_extensions.msc3902.config import Msc3902Config
from msc_extensions.msc3902.feature import Msc3902Feature
from msc_extensions.msc4046.feature import Msc4046Feature

FEATURES: tuple[FeatureSpec[Any], ...] = (
    FeatureSpec("msc3192", Msc3192Config.from_section, Msc3192Feature),
    FeatureSpec("msc4046", FeatureToggleConfig.from_section, Msc4046Feature),
    FeatureSpec("msc2314", Msc2314Config.from_section, Msc2314Feature),
    FeatureSpec("msc3895", Msc3895Config.from_section, Msc3895Feature),
    FeatureSpec("msc3902", Msc3902Config.from_section, Msc3902Feature),
)
