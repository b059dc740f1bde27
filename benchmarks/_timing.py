"""The timing loop the benchmarks share: rounds of side-by-side timings, the first
of them a warm-up that is not counted."""

import time
from collections.abc import Awaitable, Callable, Sequence

from benchmarks import Comparison

#: One round, given its number (0 is the warm-up): (baseline, candidate) seconds
#: for each row, in the order of the rows.
Round = Callable[[int], Awaitable[Sequence[tuple[float, float]]]]


async def timed(work: Awaitable[object]) -> float:
    """Seconds to run ``work``: a coroutine runs only once awaited."""
    start = time.perf_counter()
    await work
    return time.perf_counter() - start


async def run_rounds(rounds: int, rows: Sequence[Comparison], one_round: Round) -> None:
    """Runs ``one_round`` ``rounds`` times after one warm-up round (caches are
    cold in the first), adding each counted round's timings to ``rows``."""
    for round_number in range(rounds + 1):
        timings = await one_round(round_number)
        if round_number == 0:
            continue  # warm-up
        for row, (baseline, candidate) in zip(rows, timings, strict=True):
            row.baseline_seconds.append(baseline)
            row.candidate_seconds.append(candidate)
