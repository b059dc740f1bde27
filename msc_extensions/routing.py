"""Serves the features' servlets from Synapse's own resource trees.

Synapse builds a fresh ``ClientRestResource``, ``TransportLayerServer`` and admin
``JsonResource`` for each listener that serves the client or federation API (see
docs/architecture.md). The router is told about each one as it is built and adds the
enabled features' servlets to it, after Synapse's own. A listener that does not serve
a resource type never sees that type's servlets: a federation-only listener serves no
client path.
"""

from collections.abc import Sequence

from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    HomeServer,
    HttpServer,
    install_resource_hooks,
)
from msc_extensions.feature import Feature


class FeatureRouter:
    """Adds the servlets of a homeserver's enabled features to its resources."""

    def __init__(self, hs: HomeServer, features: Sequence[Feature]) -> None:
        self._hs = hs
        self._features = tuple(features)

    def install(self) -> None:
        install_resource_hooks(self._hs, self)

    def unstable_features(self) -> list[str]:
        return [flag for f in self._features for flag in f.unstable_features]

    def on_client_resource(self, resource: HttpServer) -> None:
        for feature in self._features:
            for servlet in feature.client_servlets():
                servlet.register(resource)

    def on_federation_resource(
        self,
        resource: HttpServer,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
    ) -> None:
        for feature in self._features:
            for servlet in feature.federation_servlets(authenticator, ratelimiter):
                servlet.register(resource)
        for feature in self._features:
            feature.adapt_federation_resource(resource)

    def on_admin_resource(self, resource: HttpServer) -> None:
        for feature in self._features:
            for servlet in feature.admin_servlets():
                servlet.register(resource)
