"""make_pdu and send_pdu through servers that are in the room, for a room this
server is not in (the ``server_name`` query parameters).

- make_pdu asks every named server at once; the first template wins, and this
  server remembers which server gave it (:class:`TemplateSources`).
- send_pdu sends to that server first, then to each named server in turn until one
  accepts. A server that answers with the MSC3895 code is skipped.

A remote's Matrix error reaches the client with its status and errcode; servers
that cannot be reached, or answer with a server error, give 502.
"""

from collections import OrderedDict
from collections.abc import Sequence
from urllib.parse import quote

import attr
from synapse.api.errors import Codes, HttpResponseException, SynapseError
from synapse.types import JsonDict

from msc_extensions._synapse_private.federation_requests import (
    AllFailed,
    FederationRequests,
    first_success,
)
from msc_extensions.msc4046.errors import unreachable
from msc_extensions.msc4046.templates import KNOWN_STATE_TYPES, TemplateRequest
from msc_extensions.partial_state.errcodes import (
    DestinationsExhausted,
    is_partial_state_error,
)
from msc_extensions.partial_state.service import PartialStateService

FEDERATION_PREFIX = "/_matrix/federation/unstable/org.matrix.msc4046"

#: How many (user, room) template sources a process remembers.
MAX_REMEMBERED_SOURCES = 10_000


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TemplateSource:
    server: str
    room_version: str


class TemplateSources:
    """Which server gave a user's latest template for a room, the most recent
    :data:`MAX_REMEMBERED_SOURCES` in this process."""

    def __init__(self, capacity: int = MAX_REMEMBERED_SOURCES) -> None:
        self._capacity = capacity
        self._sources: OrderedDict[tuple[str, str], TemplateSource] = OrderedDict()

    def remember(self, user_id: str, room_id: str, source: TemplateSource) -> None:
        key = (user_id, room_id)
        self._sources.pop(key, None)
        self._sources[key] = source
        while len(self._sources) > self._capacity:
            self._sources.popitem(last=False)

    def get(self, user_id: str, room_id: str) -> TemplateSource | None:
        return self._sources.get((user_id, room_id))


class ResidentServers:
    """Asks servers in a room to build and send PDUs for this server's users."""

    def __init__(
        self,
        requests: FederationRequests,
        partial_state: PartialStateService,
        supported_room_versions: Sequence[str],
    ) -> None:
        self._requests = requests
        self._partial_state = partial_state
        self._versions = list(supported_room_versions)

    def candidates(self, servers: Sequence[str]) -> list[str]:
        """The servers to ask, in order, without this one and repeats.

        Raises:
            SynapseError: 400 for a name that is not a server name.
        """
        for server in servers:
            if not self._requests.is_valid_server_name(server):
                raise SynapseError(
                    400, f"Not a server name: {server!r}", Codes.INVALID_PARAM
                )
        return [s for s in dict.fromkeys(servers) if not self._requests.is_own(s)]

    async def make_pdu(
        self,
        servers: Sequence[str],
        room_id: str,
        user_id: str,
        request: TemplateRequest,
    ) -> tuple[str, JsonDict]:
        """The first template any of ``servers`` gives, and which server gave it.

        Raises:
            SynapseError: the remote's error, or 502 when none could be reached.
        """
        path = f"{FEDERATION_PREFIX}/make_pdu/{quote(room_id, safe='')}"
        args = _make_pdu_args(user_id, request, self._versions)

        async def ask(server: str) -> JsonDict:
            answer = await self._requests.get_json(server, path, args)
            return _checked_template(answer, room_id, user_id, request, self._versions)

        try:
            return await first_success(self.candidates(servers), ask)
        except AllFailed as e:
            raise remote_failure(room_id, e.failures) from None

    async def send_pdu(
        self, servers: Sequence[str], room_id: str, pdu: JsonDict
    ) -> str:
        """Send ``pdu`` to each of ``servers`` in turn until one accepts it; return
        that server.

        Raises:
            SynapseError: the first remote error, or 502 when none could be reached.
        """
        path = f"{FEDERATION_PREFIX}/send_pdu/{quote(room_id, safe='')}"
        failures: list[tuple[str, BaseException]] = []

        async def send(server: str) -> None:
            try:
                await self._requests.put_json(server, path, pdu)
            except Exception as e:
                failures.append((server, e))
                raise

        try:
            server, _ = await self._partial_state.first_answer(
                self.candidates(servers), send
            )
        except DestinationsExhausted:
            raise remote_failure(room_id, failures) from None
        return server


def remote_failure(
    room_id: str, failures: Sequence[tuple[str, BaseException]]
) -> SynapseError:
    """What the client gets when no server answered: the first remote Matrix error
    that is not MSC3895's, else the first MSC3895 one, else 502."""
    answers: list[SynapseError] = []
    for _, failure in failures:
        if isinstance(failure, SynapseError) and failure.code < 500:
            answers.append(failure)
        elif isinstance(failure, HttpResponseException) and failure.code < 500:
            answers.append(failure.to_synapse_error())
    for answer in answers:
        if not is_partial_state_error(answer):
            return answer
    if answers:
        return answers[0]
    reasons = "; ".join(f"{s}: {f or type(f).__name__}" for s, f in failures)
    return unreachable(room_id, reasons or "no server_name given")


def _make_pdu_args(
    user_id: str, request: TemplateRequest, versions: Sequence[str]
) -> dict[str, list[str]]:
    args = {
        "event_type": [request.event_type],
        "user_id": [user_id],
        "ver": list(versions),
    }
    if request.state_key is not None:
        args["state_key"] = [request.state_key]
    elif request.event_type in KNOWN_STATE_TYPES:
        args["no_state_key"] = ["true"]
    if request.membership is not None:
        args["membership"] = [request.membership]
    return args


def _checked_template(
    answer: object,
    room_id: str,
    user_id: str,
    request: TemplateRequest,
    versions: Sequence[str],
) -> JsonDict:
    """The remote's make_pdu answer, if it is a template of what was asked."""
    if not isinstance(answer, dict):
        raise ValueError("make_pdu answer is not an object")
    version = answer.get("room_version")
    pdu = answer.get("pdu")
    if version not in versions:
        raise ValueError(f"make_pdu answer has room version {version!r}")
    if not isinstance(pdu, dict):
        raise ValueError("make_pdu answer has no pdu")
    expected = {"room_id": room_id, "sender": user_id, "type": request.event_type}
    for key, value in expected.items():
        if pdu.get(key) != value:
            raise ValueError(f"make_pdu answer has {key} {pdu.get(key)!r}")
    return {"room_version": version, "pdu": pdu}
