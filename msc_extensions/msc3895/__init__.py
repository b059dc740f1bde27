"""MSC3895: federation answers about rooms that are partial-state here are honest.

- :mod:`.config`: the ``msc3895`` config section.
- :mod:`.policy`: when this server must answer despite partial state, and what its
  hierarchy answer may show.
- :mod:`.servlets`: the federation endpoints it takes over from Synapse.
- :mod:`.feature`: feature ``msc3895``, wiring the above together.

The error code and the refusal are shared with other proposals:
:mod:`msc_extensions.partial_state`. See docs/partial-state.md.
"""
