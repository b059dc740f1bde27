"""Private APIs for asking other servers several things at once, each with a
bounded wait.

What this file relies on:

1. ``synapse.util.async_helpers.concurrently_execute(func, args, limit)``: runs
   ``func`` on each argument, ``limit`` at most at once, in log contexts of their
   own.
2. ``synapse.util.async_helpers.timeout_deferred(deferred=, timeout=, clock=)``:
   cancels a deferred after ``timeout`` seconds (also one whose canceller
   raises), raising ``twisted.internet.defer.TimeoutError``; with
   ``run_in_background`` and ``make_deferred_yieldable`` from
   ``synapse.logging.context`` for the log contexts. A cancelled federation
   request is abandoned by Synapse's federation client.
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from synapse.api.errors import Codes, SynapseError
from synapse.logging.context import make_deferred_yieldable, run_in_background
from synapse.util.async_helpers import concurrently_execute, timeout_deferred
from twisted.internet import defer

T = TypeVar("T")
A = TypeVar("A")


async def concurrently(
    call: Callable[[A], Awaitable[None]], args: Iterable[A], limit: int
) -> None:
    """(1) ``call`` for each of ``args``, ``limit`` at most at once."""
    await concurrently_execute(call, args, limit)


async def within(
    clock: Any, timeout_ms: int, call: Callable[[], Awaitable[T]], what: str
) -> T:
    """(2) Await ``call()``, cancelling it after ``timeout_ms``.

    Raises:
        SynapseError: 504 ``M_UNKNOWN``, "``what`` within N s", on the timeout.
    """
    attempt: defer.Deferred[T] = run_in_background(call)
    try:
        result: T = await make_deferred_yieldable(
            timeout_deferred(deferred=attempt, timeout=timeout_ms / 1000, clock=clock)
        )
    except defer.TimeoutError:
        raise SynapseError(
            504, f"{what} within {timeout_ms / 1000:g} s", Codes.UNKNOWN
        ) from None
    return result
