"""The MSC3895 error code: sending it, recognising it, and asking the next server.

A server answers 403 with this code while a room is partial-state on it and it
cannot answer correctly. A client that gets it asks another server: the answering
server is up, only unable to answer that question for now, so it must not be backed
off from as if it were down.
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from synapse.api.errors import HttpResponseException, SynapseError

UNSTABLE_ERRCODE = "ORG.MATRIX.MSC3895_UNABLE_DUE_TO_PARTIAL_STATE"
STABLE_ERRCODE = "M_UNABLE_DUE_TO_PARTIAL_STATE"

#: ``msc3895.errcode`` values and the code each sends.
ERRCODE_BY_CHOICE = {"unstable": UNSTABLE_ERRCODE, "stable": STABLE_ERRCODE}

#: Either spelling is recognised from remotes, whatever this server sends.
PARTIAL_STATE_ERRCODES = frozenset(ERRCODE_BY_CHOICE.values())

T = TypeVar("T")


def partial_state_error(errcode: str, room_id: str) -> SynapseError:
    """The 403 a federation endpoint answers when it cannot answer correctly."""
    return SynapseError(
        403,
        f"Unable to answer: this server has only partial state for {room_id}",
        errcode,
    )


def is_partial_state_error(error: BaseException) -> bool:
    """Whether ``error`` is a remote's (or our own) MSC3895 answer."""
    if isinstance(error, HttpResponseException):
        error = error.to_synapse_error()
    return isinstance(error, SynapseError) and error.errcode in PARTIAL_STATE_ERRCODES


class DestinationsExhausted(Exception):
    """Every destination failed. ``partial_state`` lists those that answered with
    the MSC3895 code (up, but unable to answer); ``failed`` the others."""

    def __init__(
        self, partial_state: tuple[str, ...], failed: tuple[tuple[str, str], ...]
    ) -> None:
        super().__init__(partial_state, failed)
        self.partial_state = partial_state
        self.failed = failed

    def __str__(self) -> str:
        parts = [f"{d}: {reason}" for d, reason in self.failed]
        parts += [f"{d}: partial state there too" for d in self.partial_state]
        return "no destination could answer (" + "; ".join(parts or ["none"]) + ")"


async def first_answer(
    destinations: Iterable[str], call: Callable[[str], Awaitable[T]]
) -> tuple[str, T]:
    """Ask each destination in turn until one answers; return it and its answer.

    A destination that answers with the MSC3895 code is skipped at once, and is
    counted apart from the failed ones: callers must not treat it as down. (Synapse's
    own retry limiter does not back off on a 403 either; a 5xx or a connection
    failure does.)

    Raises:
        DestinationsExhausted: no destination answered.
    """
    partial: list[str] = []
    failed: list[tuple[str, str]] = []
    for destination in dict.fromkeys(destinations):
        try:
            return destination, await call(destination)
        except Exception as e:
            if is_partial_state_error(e):
                partial.append(destination)
            else:
                failed.append((destination, str(e) or type(e).__name__))
    raise DestinationsExhausted(tuple(partial), tuple(failed))
