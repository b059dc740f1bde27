"""Every use of Synapse's private APIs, in one package.

``ModuleApi`` is the supported surface for modules; it cannot do all this module
needs. Whatever else of Synapse the module touches is imported or called only from
the modules of this package: internal classes, handlers and storage reached through
``HomeServer.get_*()``, underscore attributes, and monkeypatches. Each module here
lists what it relies on and why, and offers the rest of the code a small adapter, so
that a Synapse upgrade that moves something breaks here, loudly, and nowhere else.

- :mod:`.resources`: serving servlets from Synapse's own resource trees, the
  HomeServer behind ``ModuleApi``, Synapse's duration syntax, version checks.
- :mod:`.events`: creating and persisting many state events at once (MSC3192).
- :mod:`.partial_state`: partial-state rooms, Synapse's resync of them and the
  federation answers about them (MSC3895, MSC3902).

Outside this package the module uses only what Synapse offers modules and servlet
authors: ``synapse.module_api``, ``synapse.api.errors``, ``synapse.api.constants``,
``synapse.http.servlet``, ``synapse.http.site`` and ``synapse.types``.
"""
