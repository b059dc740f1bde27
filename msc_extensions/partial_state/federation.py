"""Feature ``msc3895``: federation endpoints that answer honestly while a room is
partial-state here.

- The configured error code (``msc3895.errcode``) goes out on every federation
  response that carries the MSC3895 code, Synapse's own included.
- ``GET /_matrix/federation/v1/event/{eventId}`` and
  ``GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}``: for an event this
  server created in a room that is partial-state here, asked by a server the event
  was sent to, answer (MSC3895's obligation to answer); anyone else gets the error
  code, as before. Every other request goes to Synapse's own servlet.
- ``GET /_matrix/federation/v1/hierarchy/{roomId}``: for a partial-state room,
  Synapse's summary when the room is public, knockable or world-readable (which the
  complete non-member state proves) or the origin has a joined member in the
  membership known here; the error code otherwise, and also if Synapse's answer
  takes longer than :data:`HIERARCHY_TIMEOUT_S`. Never waits for full state.

"Sent to" is approximated by the servers Synapse sends a partial-state room's events
to: the servers in the room at join, plus those with a joined member in the room's
current state as known here when the request arrives. See docs/partial-state.md.
"""

from collections.abc import Iterable
from typing import Any, Literal

from synapse.api.errors import NotFoundError
from synapse.http.servlet import parse_boolean_from_args
from synapse.module_api import ModuleApi
from synapse.types import JsonDict, UserID

from msc_extensions._synapse_private.partial_state import (
    FederationAnswers,
    PartialStateInternals,
    rewrite_partial_state_errcode,
)
from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
    HomeServer,
    HttpServer,
    homeserver_of,
)
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.partial_state.config import Msc3895Config
from msc_extensions.partial_state.errcodes import (
    PARTIAL_STATE_ERRCODES,
    partial_state_error,
)

#: The longest a hierarchy answer about a partial-state room may take.
HIERARCHY_TIMEOUT_S = 5.0


class PartialStateAnswers:
    """Decides, per request, whether this server must answer while partial.

    Other features' federation endpoints get one from
    :func:`partial_state_answers` and call :meth:`refuse_if_partial`.
    """

    def __init__(self, hs: HomeServer, config: Msc3895Config) -> None:
        self.internals = PartialStateInternals(hs)
        self.answers = FederationAnswers(hs)
        self.errcode = config.errcode
        self._server_name = hs.hostname

    def created_here(self, sender: str) -> bool:
        return UserID.from_string(sender).domain == self._server_name

    async def was_sent_to(self, room_id: str, origin: str) -> bool:
        return origin in await self.internals.servers_believed_in_room(room_id)

    async def refuse_if_partial(self, room_id: str) -> None:
        """For endpoints that cannot answer correctly while the room is
        partial-state here (current-state ``/state``, make_pdu, send_pdu): raise
        the configured MSC3895 error if it is."""
        if await self.internals.is_partial_state_room(room_id):
            raise partial_state_error(self.errcode, room_id)

    async def must_answer(self, origin: str, event_id: str) -> str | None:
        """The event's room when MSC3895 obliges this server to answer for it
        despite partial state; None when Synapse's own answer stands."""
        event = await self.internals.get_event(event_id)
        if event is None:
            return None
        if not await self.internals.is_partial_state_room(event.room_id):
            return None
        if not self.created_here(event.sender):
            return None
        if not await self.was_sent_to(event.room_id, origin):
            raise partial_state_error(self.errcode, event.room_id)
        return event.room_id


def partial_state_answers(api: ModuleApi, config: Msc3895Config) -> PartialStateAnswers:
    """The MSC3895 decisions for a homeserver, with its configured error code."""
    return PartialStateAnswers(homeserver_of(api), config)


class _Msc3895Servlet(FederationServlet):
    CATEGORY = "Federation requests"

    def __init__(
        self,
        hs: HomeServer,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
        decider: PartialStateAnswers,
    ) -> None:
        super().__init__(hs, authenticator, ratelimiter, hs.hostname)
        self.decider = decider


class EventServlet(_Msc3895Servlet):
    """Replaces Synapse's ``/event/{eventId}`` (identical pattern)."""

    PATH = "/event/(?P<event_id>[^/]*)/?"

    async def on_GET(
        self,
        origin: str,
        content: Literal[None],
        query: dict[bytes, list[bytes]],
        event_id: str,
    ) -> tuple[int, Any]:
        room_id = await self.decider.must_answer(origin, event_id)
        if room_id is None:
            return await self.decider.answers.builtin_event(origin, event_id)
        await self.decider.answers.check_acl(origin, room_id)
        event = await self.decider.internals.get_event(event_id)
        assert event is not None
        return 200, self.decider.answers.transaction_of([event])


class EventAuthServlet(_Msc3895Servlet):
    """Replaces Synapse's ``/event_auth/{roomId}/{eventId}`` (identical pattern)."""

    PATH = "/event_auth/(?P<room_id>[^/]*)/(?P<event_id>[^/]*)"

    async def on_GET(
        self,
        origin: str,
        content: Literal[None],
        query: dict[bytes, list[bytes]],
        room_id: str,
        event_id: str,
    ) -> tuple[int, JsonDict]:
        event_room_id = await self.decider.must_answer(origin, event_id)
        if event_room_id is None:
            return await self.decider.answers.builtin_event_auth(
                origin, room_id, event_id
            )
        if event_room_id != room_id:
            raise NotFoundError("Event not found in this room")
        await self.decider.answers.check_acl(origin, room_id)
        chain = await self.decider.answers.auth_chain_json(room_id, event_id)
        return 200, {"auth_chain": chain}


class HierarchyServlet(_Msc3895Servlet):
    """Replaces Synapse's ``/hierarchy/{roomId}`` (identical pattern)."""

    PATH = "/hierarchy/(?P<room_id>[^/]*)"

    async def on_GET(
        self,
        origin: str,
        content: Literal[None],
        query: dict[bytes, list[bytes]],
        room_id: str,
    ) -> tuple[int, JsonDict]:
        suggested_only = parse_boolean_from_args(query, "suggested_only", default=False)
        decider = self.decider
        answers = decider.answers
        if not await decider.internals.is_partial_state_room(room_id):
            result = await answers.builtin_hierarchy(origin, room_id, suggested_only)
            assert result is not None
            return 200, result
        # Partial-state here: answer only what the state we hold proves. The
        # non-member state is complete; the membership is an approximation, in
        # which a joined member of the origin is taken as proof, as Synapse's
        # federation sender takes it for sending.
        if not (
            await answers.provably_accessible(room_id)
            or await answers.has_joined_member(room_id, origin)
        ):
            raise partial_state_error(decider.errcode, room_id)
        result = await answers.builtin_hierarchy(
            origin, room_id, suggested_only, timeout_s=HIERARCHY_TIMEOUT_S
        )
        if result is None:
            raise partial_state_error(decider.errcode, room_id)
        return 200, result


class Msc3895Feature(Feature):
    name = "msc3895"

    def __init__(self, context: FeatureContext, config: Msc3895Config) -> None:
        self._hs = context.hs
        self.decider = PartialStateAnswers(self._hs, config)

    def federation_servlets(
        self,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
    ) -> Iterable[FederationServlet]:
        args = (self._hs, authenticator, ratelimiter, self.decider)
        return (EventServlet(*args), EventAuthServlet(*args), HierarchyServlet(*args))

    def adapt_federation_resource(self, resource: HttpServer) -> None:
        """Synapse's own answers on this resource carry the configured code too."""
        rewrite_partial_state_errcode(
            resource, PARTIAL_STATE_ERRCODES, self.decider.errcode
        )
