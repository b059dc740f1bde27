"""What a proposal contributes to a homeserver, and how it is registered.

Each proposal is a :class:`Feature`. It declares its servlets once; the router
(:mod:`msc_extensions.routing`) registers them into Synapse's own resource trees on
every listener that serves that kind of resource, and advertises the feature's
``unstable_features`` on ``/_matrix/client/versions``.

A :class:`FeatureSpec` is a feature's line in the registry
(:mod:`msc_extensions.registry`): its config section's name, the function that
parses that section, and the factory that builds the feature from a
:class:`FeatureContext` and the parsed section.
"""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import attr
from synapse.http.servlet import RestServlet
from synapse.module_api import ModuleApi

from msc_extensions.config_reader import SectionReader

if TYPE_CHECKING:
    from msc_extensions._synapse_private.resources import (
        FederationAuthenticator,
        FederationRateLimiter,
        FederationServlet,
        HomeServer,
        HttpServer,
    )
    from msc_extensions.partial_state.service import PartialStateService
    from msc_extensions.transactions.service import PersistedTransactions


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


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FeatureContext:
    """What the module hands every feature it builds: one of each per homeserver."""

    api: ModuleApi
    hs: "HomeServer"
    #: The one partial-state service of this homeserver (MSC3895's refusals, the
    #: resync's hooks), shared by every feature that needs it.
    partial_state: "PartialStateService"
    #: The one transaction service of this homeserver: makes ``PUT .../{txnId}``
    #: requests idempotent across restarts and workers.
    transactions: "PersistedTransactions"

    @property
    def on_main_process(self) -> bool:
        return self.api.worker_app is None


class SectionConfig(Protocol):
    """What every feature's config section has."""

    @property
    def enabled(self) -> bool: ...

    def as_section(self) -> dict[str, Any]:
        """The section, every default filled in, as ``homeserver.yaml`` could say
        it (durations in milliseconds): what ``/status`` shows. Parsing it again
        gives an equal config. Leaves out anything secret."""
        ...


ConfigT = TypeVar("ConfigT", bound=SectionConfig)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FeatureSpec(Generic[ConfigT]):
    """One feature's line in the registry."""

    #: The config section, the name on ``/status`` and in the logs.
    name: str
    #: Parses the section (an empty one gives the defaults); raises ``ConfigError``.
    parse: Callable[[SectionReader], ConfigT]
    #: Builds the feature when its section is enabled.
    build: Callable[[FeatureContext, ConfigT], Feature]
