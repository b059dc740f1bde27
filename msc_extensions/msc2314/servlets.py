"""The federation endpoints of MSC2314, each under the stable path (registered with
the pattern of Synapse's own servlet, so that it replaces it on every federation
listener) and the unstable one:

- ``GET /_matrix/federation/v1/state/{roomId}``,
  ``GET /_matrix/federation/unstable/org.matrix.msc2314/state/{roomId}``;
- ``GET /_matrix/federation/v1/state_ids/{roomId}``,
  ``GET /_matrix/federation/unstable/org.matrix.msc2314/state_ids/{roomId}``.

With ``event_id`` they give Synapse's own answer with ``room_version`` added.
Without it they give the room's current state
(:class:`~msc_extensions.msc2314.serving.CurrentStateServer`); on the stable paths
only while ``msc2314.v1_without_event_id`` is on, and otherwise Synapse's own 400
``M_MISSING_PARAM``.
"""

from typing import Any, Literal

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import parse_string_from_args
from synapse.types import JsonDict

from msc_extensions._synapse_private.current_state import (
    CurrentStateReads,
    FederationServletWithEncodedAnswers,
)
from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    HomeServer,
)
from msc_extensions.msc2314.serving import CurrentStateServer

V1_PREFIX = "/_matrix/federation/v1"
UNSTABLE_PREFIX = "/_matrix/federation/unstable/org.matrix.msc2314"

Query = dict[bytes, list[bytes]]


class _StateServletBase(FederationServletWithEncodedAnswers):
    CATEGORY = "Federation requests"

    def __init__(
        self,
        hs: HomeServer,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
        server: CurrentStateServer,
        *,
        unstable: bool,
        without_event_id: bool,
    ) -> None:
        super().__init__(hs, authenticator, ratelimiter, hs.hostname)
        self.PREFIX = UNSTABLE_PREFIX if unstable else V1_PREFIX
        self._server = server
        self._reads = CurrentStateReads(hs)
        self._without_event_id = without_event_id

    def _event_id(self, query: Query) -> str | None:
        """The ``event_id`` asked for; None for the current state. An empty one
        counts as none (Synapse's own ``/state_ids`` fails with a 500 on it)."""
        event_id = parse_string_from_args(query, "event_id", None) or None
        if event_id is None and not self._without_event_id:
            # Without the switch, the stable paths refuse as Synapse's own do.
            raise SynapseError(
                400, "Missing string query parameter 'event_id'", Codes.MISSING_PARAM
            )
        return event_id

    async def _with_room_version(
        self, room_id: str, answer: tuple[int, JsonDict]
    ) -> tuple[int, JsonDict]:
        code, body = answer
        room_version = await self._server.room_version_of(room_id)
        return code, {**body, "room_version": room_version}


class StateServlet(_StateServletBase):
    """``/state/{roomId}``; on the stable path, Synapse's identical pattern."""

    PATH = "/state/(?P<room_id>[^/]*)/?"

    async def on_GET(
        self, origin: str, content: Literal[None], query: Query, room_id: str
    ) -> tuple[int, Any]:
        event_id = self._event_id(query)
        if event_id is None:
            return 200, await self._server.state(origin, room_id)
        return await self._with_room_version(
            room_id, await self._reads.builtin_state(origin, room_id, event_id)
        )


class StateIdsServlet(_StateServletBase):
    """``/state_ids/{roomId}``; on the stable path, Synapse's identical pattern."""

    PATH = "/state_ids/(?P<room_id>[^/]*)/?"

    async def on_GET(
        self, origin: str, content: Literal[None], query: Query, room_id: str
    ) -> tuple[int, JsonDict]:
        event_id = self._event_id(query)
        if event_id is None:
            return 200, await self._server.state_ids(origin, room_id)
        return await self._with_room_version(
            room_id, await self._reads.builtin_state_ids(origin, room_id, event_id)
        )
