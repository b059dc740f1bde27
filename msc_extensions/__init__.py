"""A Synapse module that brings five Matrix spec proposals to existing homeservers.

Admins enable it in ``homeserver.yaml``::

    modules:
      - module: msc_extensions.MscExtensions
        config: {}
"""

__version__ = "0.1.0"

from msc_extensions.module import MscExtensions

__all__ = ["MscExtensions", "__version__"]
