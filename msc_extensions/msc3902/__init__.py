"""MSC3902: partial-state rooms whose resync stalled come back to full state.

- :mod:`.config`: the ``msc3902`` config section.
- :mod:`.backoff`: per-room exponential back-off, pure arithmetic.
- :mod:`.failures`: what a failed resync says (its causes; did any server answer).
- :mod:`.rooms`: what the loop knows of each room.
- :mod:`.resync`: the looping call that restarts stalled resyncs.
- :mod:`.abort`: aborting a room that can never complete.
- :mod:`.admin`: the admin API on partial-state rooms.
- :mod:`.metrics`: Prometheus metrics.
- :mod:`.feature`: feature ``msc3902``, wiring the above together.

See docs/partial-state.md.
"""
