"""MSC3895 and MSC3902: partial-state rooms answer honestly, and stalled resyncs
come back to full state.

- :mod:`.config`: the ``msc3895`` and ``msc3902`` config sections.
- :mod:`.errcodes`: the MSC3895 error code, and trying the next server on it.
- :mod:`.federation`: MSC3895 federation endpoints (feature ``msc3895``).
- :mod:`.backoff`: per-room exponential back-off, pure arithmetic.
- :mod:`.resync`: the looping call that restarts stalled resyncs.
- :mod:`.admin`: the admin API on partial-state rooms.
- :mod:`.metrics`: Prometheus metrics.
- :mod:`.feature`: feature ``msc3902``, wiring the above together.

See docs/partial-state.md.
"""

from msc_extensions.partial_state.config import Msc3895Config, Msc3902Config

__all__ = ["Msc3895Config", "Msc3902Config"]
