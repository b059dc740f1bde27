"""The federation endpoints, for servers that are not in a room this one is in:

- ``GET /_matrix/federation/unstable/org.matrix.msc4046/make_pdu/{roomId}`` with
  ``event_type`` and ``user_id`` (required; ``user_id`` must belong to the calling
  server), ``state_key``, ``no_state_key``, ``membership`` and ``ver`` (repeatable,
  as make_join's; ``1`` when missing);
- ``PUT /_matrix/federation/unstable/org.matrix.msc4046/send_pdu/{roomId}``.

Both get X-Matrix authentication and the per-origin rate limit from the listener.
"""

from collections.abc import Mapping, Sequence
from typing import Literal

from synapse.http.servlet import parse_string_from_args, parse_strings_from_args
from synapse.types import JsonDict

from msc_extensions._synapse_private.resources import (
    FederationAuthenticator,
    FederationRateLimiter,
    FederationServlet,
    HomeServer,
)
from msc_extensions.msc4046.handler import Msc4046Handler
from msc_extensions.msc4046.resident import FEDERATION_PREFIX
from msc_extensions.msc4046.templates import parse_template_request

Query = Mapping[bytes, Sequence[bytes]]


class _Msc4046FederationServlet(FederationServlet):
    PREFIX = FEDERATION_PREFIX
    CATEGORY = "Federation requests"

    def __init__(
        self,
        hs: HomeServer,
        authenticator: FederationAuthenticator,
        ratelimiter: FederationRateLimiter,
        handler: Msc4046Handler,
    ) -> None:
        super().__init__(hs, authenticator, ratelimiter, hs.hostname)
        self._handler = handler


class FederationMakePduServlet(_Msc4046FederationServlet):
    PATH = "/make_pdu/(?P<room_id>[^/]*)"

    async def on_GET(
        self, origin: str, content: Literal[None], query: Query, room_id: str
    ) -> tuple[int, JsonDict]:
        event_type = parse_string_from_args(query, "event_type", required=True)
        user_id = parse_string_from_args(query, "user_id", required=True)
        versions = parse_strings_from_args(query, "ver", default=["1"])
        template = parse_template_request(event_type, user_id, query)
        return 200, await self._handler.federation_make_pdu(
            origin, room_id, user_id, template, versions
        )


class FederationSendPduServlet(_Msc4046FederationServlet):
    PATH = "/send_pdu/(?P<room_id>[^/]*)"

    async def on_PUT(
        self, origin: str, content: JsonDict, query: Query, room_id: str
    ) -> tuple[int, JsonDict]:
        return 200, await self._handler.federation_send_pdu(origin, room_id, content)
