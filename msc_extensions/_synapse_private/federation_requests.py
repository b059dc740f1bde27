"""Private APIs for asking other servers: signed federation requests, several at
once.

What this file relies on, and why:

1. ``hs.get_federation_http_client()``: ``get_json(destination, path, args=...)`` and
   ``put_json(destination, path, data=...)``, Synapse's federation client: it signs
   with X-Matrix, resolves the server name, retries, and keeps the retry back-off of
   each destination. A Matrix error answer raises ``HttpResponseException``;
   a destination in back-off raises ``NotRetryingDestination``; others raise
   connection errors.
2. ``synapse.util.stringutils.parse_and_validate_server_name``: what Synapse
   accepts as a server name.
3. ``run_in_background`` and ``make_deferred_yieldable`` from
   ``synapse.logging.context``: requests run concurrently with correct log
   contexts.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from synapse.logging.context import make_deferred_yieldable, run_in_background
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.stringutils import parse_and_validate_server_name
from twisted.internet import defer
from twisted.python.failure import Failure

__all__ = ["AllFailed", "FederationRequests", "first_success"]

T = TypeVar("T")


class FederationRequests:
    """Signed requests from this homeserver to others."""

    def __init__(self, hs: HomeServer) -> None:
        self._client = hs.get_federation_http_client()
        self._hs = hs

    @staticmethod
    def is_valid_server_name(server_name: str) -> bool:
        try:
            parse_and_validate_server_name(server_name)
        except ValueError:
            return False
        return True

    def is_own(self, server_name: str) -> bool:
        return self._hs.is_mine_server_name(server_name)

    async def get_json(
        self, destination: str, path: str, args: Mapping[str, Sequence[str]]
    ) -> Any:
        return await self._client.get_json(
            destination, path, args={k: list(v) for k, v in args.items()}
        )

    async def put_json(self, destination: str, path: str, data: JsonDict) -> Any:
        return await self._client.put_json(destination, path, data=data)


class AllFailed(Exception):
    """No destination answered; ``failures`` in the order of the destinations."""

    def __init__(self, failures: Sequence[tuple[str, BaseException]]) -> None:
        super().__init__(failures)
        self.failures = tuple(failures)


async def first_success(
    destinations: Iterable[str], call: Callable[[str], Awaitable[T]]
) -> tuple[str, T]:
    """Call ``call`` for every destination at once; return the first that succeeds
    and its answer, without waiting for the others.

    Raises:
        AllFailed: every call raised (or there were no destinations).
    """
    ordered = list(dict.fromkeys(destinations))
    if not ordered:
        raise AllFailed(())
    winner: defer.Deferred[tuple[str, T]] = defer.Deferred()
    failures: dict[str, BaseException] = {}

    def succeeded(answer: T, destination: str) -> None:
        if not winner.called:
            winner.callback((destination, answer))

    def failed(failure: Failure, destination: str) -> None:
        failures[destination] = failure.value or Exception(str(failure))
        if len(failures) == len(ordered) and not winner.called:
            winner.errback(AllFailed([(d, failures[d]) for d in ordered]))

    for destination in ordered:
        attempt = run_in_background(call, destination)
        attempt.addCallbacks(
            succeeded,
            failed,
            callbackArgs=(destination,),
            errbackArgs=(destination,),
        )
    return await make_deferred_yieldable(winner)
