"""Private APIs for serving servlets and for reaching the HomeServer.

Synapse's ``ModuleApi`` is the supported surface for modules, but it cannot do all
that this module needs. Each item below says what it relies on, so that a Synapse
upgrade that moves one of them breaks here, loudly, and nowhere else. The module
refuses to load on Synapse versions older than :data:`OLDEST_SUPPORTED_SYNAPSE`.

1. ``ModuleApi._hs``: the HomeServer behind the module API. Handlers, storage and
   the federation client are reached through it.
2. ``ClientRestResource.register_servlets`` (a staticmethod taking
   ``(resource, hs, servlet_groups)``), ``TransportLayerServer.register_servlets``
   (a method; the instance carries ``hs``, ``servlet_groups``, ``authenticator`` and
   ``ratelimiter``) and ``synapse.rest.admin.register_servlets(hs, resource)``, which
   Synapse calls, by attribute look-up, for every listener it builds (main process
   and workers, since 1.100). ``ModuleApi.register_web_resource`` cannot serve under
   ``/_matrix/client``, ``/_matrix/federation`` or ``/_synapse/admin``: those trees
   are leaf ``JsonResource``s (element-hq/synapse issue 15278). Wrapping the three
   functions lets the module's servlets join the very resources the built-in ones
   live in, on exactly the listeners that serve them.
3. ``JsonResource.register_paths`` keys routes by compiled pattern and method, so a
   servlet registered later with an identical pattern replaces the earlier one for
   that method. :class:`VersionsServletWithModuleFeatures` relies on that.
4. ``synapse.rest.client.versions.VersionsRestServlet``: subclassed to add the
   module's flags to ``unstable_features``.
5. ``synapse.config._base.Config.parse_duration``: Synapse's own duration syntax.
6. Federation servlet types from ``synapse.federation.transport.server._base`` and
   ``synapse.util.ratelimitutils``: ``BaseFederationServlet`` (with ``PREFIX``,
   ``PATH`` and ``on_<METHOD>(origin, content, query, **path_args)``), its
   ``Authenticator`` and ``FederationRateLimiter``.
"""

import re
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import synapse
import synapse.rest.admin
from synapse.config._base import Config
from synapse.federation.transport.server import TransportLayerServer
from synapse.federation.transport.server._base import (
    Authenticator as FederationAuthenticator,
)
from synapse.federation.transport.server._base import (
    BaseFederationServlet as FederationServlet,
)
from synapse.http.server import HttpServer
from synapse.http.site import SynapseRequest
from synapse.module_api import ModuleApi
from synapse.rest import ClientRestResource
from synapse.rest.client.versions import VersionsRestServlet
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.ratelimitutils import FederationRateLimiter

__all__ = [
    "OLDEST_SUPPORTED_SYNAPSE",
    "FederationAuthenticator",
    "FederationRateLimiter",
    "FederationServlet",
    "HomeServer",
    "HttpServer",
    "ResourceListener",
    "homeserver_of",
    "install_resource_hooks",
    "parse_synapse_duration",
]

#: The oldest Synapse release whose private APIs match what this package relies on,
#: with the differences between it and the newest bridged in :mod:`.compat`.
#: 1.140.0 (2025-10-14) is the first with the policy server's
#: ``ask_policy_server_to_sign_event``, which :mod:`.spam_checks` needs.
OLDEST_SUPPORTED_SYNAPSE = (1, 140, 0)

#: The newest Synapse minor release the test suite has run against. Keep it, the
#: floor above, setup.cfg's extras and tox's envs in step.
NEWEST_TESTED_SYNAPSE = (1, 163)


def synapse_version() -> tuple[int, ...]:
    """The running Synapse's (major, minor, patch); "1.163.0rc1" is (1, 163, 0)."""
    numbers = []
    for part in synapse.__version__.split(".")[:3]:
        match = re.match(r"\d*", part)
        numbers.append(int(match.group() or 0) if match else 0)
    return tuple(numbers)


def homeserver_of(api: ModuleApi) -> HomeServer:
    """(1) The HomeServer behind a ModuleApi."""
    hs = api._hs
    assert isinstance(hs, HomeServer)
    return hs


def parse_synapse_duration(value: object) -> int:
    """(5) Synapse's duration syntax: int milliseconds or "30s", "5m", "1h", ...

    Raises TypeError or ValueError for anything else.
    """
    if not isinstance(value, int | str) or isinstance(value, bool):
        raise TypeError(f"not a duration: {value!r}")
    return Config.parse_duration(value)


class ResourceListener(Protocol):
    """Receives each resource tree Synapse builds for a homeserver."""

    def unstable_features(self) -> Iterable[str]: ...

    def on_client_resource(self, resource: HttpServer) -> None: ...

    def on_federation_resource(
        self,
        resource: HttpServer,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
    ) -> None: ...

    def on_admin_resource(self, resource: HttpServer) -> None: ...


# The listeners of each HomeServer. Weak keys: a HomeServer that is gone (several are
# made and dropped in one test process) takes its entry with it, and a HomeServer
# without the module has no entry, so its resources stay exactly as Synapse built them.
_listeners: "weakref.WeakKeyDictionary[HomeServer, list[ResourceListener]]" = (
    weakref.WeakKeyDictionary()
)
_hooks_installed = False


def install_resource_hooks(hs: HomeServer, listener: ResourceListener) -> None:
    """(2) Call ``listener`` whenever Synapse builds a client, federation or admin
    resource for ``hs``, right after Synapse's own servlets are registered in it.

    Must run before Synapse starts listening: Synapse loads modules first.
    """
    _install_hooks_once()
    _listeners.setdefault(hs, []).append(listener)


def _install_hooks_once() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True

    synapse_register_client_servlets = ClientRestResource.register_servlets

    def register_client_servlets(
        client_resource: HttpServer,
        hs: HomeServer,
        servlet_groups: Iterable[str] | None = None,
    ) -> None:
        synapse_register_client_servlets(client_resource, hs, servlet_groups)
        # Listeners that serve only media ask for the "media" group alone.
        listeners = _listeners.get(hs)
        if listeners and (not servlet_groups or "client" in servlet_groups):
            VersionsServletWithModuleFeatures(
                hs, lambda: _unstable_features_of(hs)
            ).register(client_resource)
            for listener in listeners:
                listener.on_client_resource(client_resource)

    ClientRestResource.register_servlets = staticmethod(  # type: ignore[method-assign]
        register_client_servlets
    )

    synapse_register_federation_servlets: Callable[[TransportLayerServer], None] = (
        TransportLayerServer.register_servlets
    )

    def register_federation_servlets(self: TransportLayerServer) -> None:
        synapse_register_federation_servlets(self)
        # Listeners that serve only media or openid name their groups.
        groups = self.servlet_groups
        if not groups or "federation" in groups:
            for listener in _listeners.get(self.hs, ()):
                listener.on_federation_resource(
                    self, self.authenticator, self.ratelimiter
                )

    TransportLayerServer.register_servlets = register_federation_servlets  # type: ignore[method-assign]

    synapse_register_admin_servlets = synapse.rest.admin.register_servlets

    def register_admin_servlets(hs: HomeServer, http_server: HttpServer) -> None:
        synapse_register_admin_servlets(hs, http_server)
        for listener in _listeners.get(hs, ()):
            listener.on_admin_resource(http_server)

    synapse.rest.admin.register_servlets = register_admin_servlets


def _unstable_features_of(hs: HomeServer) -> list[str]:
    return [
        flag
        for listener in _listeners.get(hs, ())
        for flag in listener.unstable_features()
    ]


class VersionsServletWithModuleFeatures(VersionsRestServlet):
    """(3, 4) ``GET /_matrix/client/versions``, with the module's features added.

    Registered after Synapse's own servlet with the identical pattern, it takes that
    route's place in the same resource.
    """

    def __init__(
        self, hs: HomeServer, unstable_features: Callable[[], Iterable[str]]
    ) -> None:
        super().__init__(hs)
        self._module_unstable_features = unstable_features

    async def on_GET(self, request: SynapseRequest) -> tuple[int, JsonDict]:
        status, body = await super().on_GET(request)
        features: dict[str, Any] = dict(body.get("unstable_features", {}))
        for flag in self._module_unstable_features():
            features[flag] = True
        return status, {**body, "unstable_features": features}
