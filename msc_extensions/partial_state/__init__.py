"""What every feature that deals with partial-state rooms shares.

- :mod:`.errcodes`: the MSC3895 error code, recognising it, and asking the next
  server on it.
- :mod:`.service`: the one partial-state service of a homeserver: refusals while a
  room is partial-state, and the hooks into Synapse's resync.

The proposals themselves live in :mod:`msc_extensions.msc3895` and
:mod:`msc_extensions.msc3902`. See docs/partial-state.md.
"""
