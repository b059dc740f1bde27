"""What a proposal contributes to a homeserver.

Each proposal is a :class:`Feature`. It declares its servlets once; the router
(:mod:`msc_extensions.routing`) registers them into Synapse's own resource trees on
every listener that serves that kind of resource, and advertises the feature's
``unstable_features`` on ``/_matrix/client/versions``.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from synapse.http.servlet import RestServlet

if TYPE_CHECKING:
    from msc_extensions._synapse_private.resources import (
        FederationAuthenticator,
        FederationRateLimiter,
        FederationServlet,
        HttpServer,
    )


class Feature:
    """Base class for one proposal's servlets. Every method may return nothing."""

    #: The config section and log name, e.g. ``"msc3192"``.
    name: ClassVar[str]

    #: Flags this feature adds to ``unstable_features`` on ``/_matrix/client/versions``.
    unstable_features: ClassVar[tuple[str, ...]] = ()

    def client_servlets(self) -> Iterable[RestServlet]:
        """Servlets served under ``/_matrix/client`` on client listeners."""
        return ()

    def federation_servlets(
        self,
        authenticator: "FederationAuthenticator",
        ratelimiter: "FederationRateLimiter",
    ) -> Iterable["FederationServlet"]:
        """Servlets served under ``/_matrix/federation`` on federation listeners.

        They get X-Matrix authentication and per-origin rate limiting from the
        listener's own authenticator and rate limiter.
        """
        return ()

    def adapt_federation_resource(self, resource: "HttpServer") -> None:
        """Called once for each federation resource, after every feature's servlets
        are registered in it: for changes that concern the resource as a whole."""

    def admin_servlets(self) -> Iterable[RestServlet]:
        """Servlets served under ``/_synapse/admin`` on client listeners."""
        return ()
