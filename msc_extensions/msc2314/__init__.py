"""MSC2314: a room's current state over federation, without an event ID.

- :mod:`.config`: the ``msc2314`` config section.
- :mod:`.serving`: the answers and who may have them (access, cache, rate limit).
- :mod:`.servlets`: ``/state`` and ``/state_ids``, stable and unstable.
- :mod:`.feature`: feature ``msc2314``, wiring the above together.

See docs/msc2314.md.
"""
