"""The federation endpoints MSC3895 takes over from Synapse, each registered with
the pattern of Synapse's own so that it replaces it on every federation listener.

- ``GET /_matrix/federation/v1/event/{eventId}`` and
  ``GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}``: for an event this
  server created in a room that is partial-state here, asked by a server the event
  was sent to, answer (MSC3895's obligation to answer); anyone else gets the error
  code, as before. Every other request goes to Synapse's own answer.
- ``GET /_matrix/federation/v1/hierarchy/{roomId}``: for a partial-state room,
  Synapse's summary when the state held here proves the origin may see it; the
  error code otherwise, and also if Synapse's answer takes longer than
  :data:`HIERARCHY_TIMEOUT_S`. Never waits for full state.

The decisions are :class:`~msc_extensions.msc3895.policy.AnswerPolicy`'s.
"""

from typing import Any, Literal

from synapse.api.errors import NotFoundError
from synapse.http.servlet import parse_boolean_from_args
from synapse.types import JsonDict

from msc_extensions._synapse_private.federation_answers import FederationAnswers
from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
    HomeServer,
)
from msc_extensions.msc3895.policy import AnswerPolicy
from msc_extensions.partial_state.service import PartialStateService

#: The longest a hierarchy answer about a partial-state room may take.
HIERARCHY_TIMEOUT_S = 5.0

Query = dict[bytes, list[bytes]]


class _Msc3895Servlet(FederationServlet):
    CATEGORY = "Federation requests"

    def __init__(
        self,
        hs: HomeServer,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
        partial_state: PartialStateService,
        policy: AnswerPolicy,
        answers: FederationAnswers,
    ) -> None:
        super().__init__(hs, authenticator, ratelimiter, hs.hostname)
        self._partial_state = partial_state
        self._policy = policy
        self._answers = answers


class EventServlet(_Msc3895Servlet):
    """Replaces Synapse's ``/event/{eventId}`` (identical pattern)."""

    PATH = "/event/(?P<event_id>[^/]*)/?"

    async def on_GET(
        self, origin: str, content: Literal[None], query: Query, event_id: str
    ) -> tuple[int, Any]:
        event = await self._policy.must_answer(origin, event_id)
        if event is None:
            return await self._answers.builtin_event(origin, event_id)
        await self._answers.check_acl(origin, event.room_id)
        return 200, self._answers.transaction_of([event])


class EventAuthServlet(_Msc3895Servlet):
    """Replaces Synapse's ``/event_auth/{roomId}/{eventId}`` (identical pattern)."""

    PATH = "/event_auth/(?P<room_id>[^/]*)/(?P<event_id>[^/]*)"

    async def on_GET(
        self,
        origin: str,
        content: Literal[None],
        query: Query,
        room_id: str,
        event_id: str,
    ) -> tuple[int, JsonDict]:
        event = await self._policy.must_answer(origin, event_id)
        if event is None:
            return await self._answers.builtin_event_auth(origin, room_id, event_id)
        if event.room_id != room_id:
            raise NotFoundError("Event not found in this room")
        await self._answers.check_acl(origin, room_id)
        return 200, {
            "auth_chain": await self._answers.auth_chain_json(room_id, event_id)
        }


class HierarchyServlet(_Msc3895Servlet):
    """Replaces Synapse's ``/hierarchy/{roomId}`` (identical pattern)."""

    PATH = "/hierarchy/(?P<room_id>[^/]*)"

    async def on_GET(
        self, origin: str, content: Literal[None], query: Query, room_id: str
    ) -> tuple[int, JsonDict]:
        suggested_only = parse_boolean_from_args(query, "suggested_only", default=False)
        if not await self._partial_state.is_partial(room_id):
            result = await self._answers.builtin_hierarchy(
                origin, room_id, suggested_only
            )
        elif await self._policy.may_see_hierarchy(origin, room_id):
            result = await self._answers.builtin_hierarchy(
                origin, room_id, suggested_only, timeout_s=HIERARCHY_TIMEOUT_S
            )
        else:
            result = None
        if result is None:
            raise self._partial_state.refusal(room_id)
        return 200, result
