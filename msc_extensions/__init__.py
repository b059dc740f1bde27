"""A Synapse module that brings five Matrix spec proposals to existing homeservers.

Admins enable it in ``homeserver.yaml``::

    modules:
      - module: msc_extensions.MscExtensions
        config: {}
"""

from msc_extensions.module import MscExtensions
from msc_extensions.version import __version__

__all__ = ["MscExtensions", "__version__"]
