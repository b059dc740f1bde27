"""Side-by-side timings on real homeservers: ``python -m benchmarks [NAME ...]``.

Each benchmark lives in its own module of this package and registers itself with
:func:`register`; ``python -m benchmarks`` imports every module here, runs the
benchmarks asked for (all by default) and prints their tables. A benchmark gets a
:class:`BenchOptions` and returns :class:`Comparison` rows, so that every benchmark
prints the same way. Timings are printed, never asserted.

To add one, create ``benchmarks/<name>.py``::

    from benchmarks import BenchOptions, Comparison, register

    @register("msc9999", "what it compares")
    async def run(options: BenchOptions) -> list[Comparison]:
        ...
"""

import importlib
import pkgutil
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BenchOptions",
    "Benchmark",
    "Comparison",
    "discover",
    "register",
    "registered",
]


@dataclass(frozen=True)
class BenchOptions:
    #: Times each measurement is taken; the median is reported.
    rounds: int = 5
    #: Run the homeservers on PostgreSQL rather than SQLite.
    postgres: bool = False
    #: Skip the rows that need more than one homeserver.
    local_only: bool = False

    @property
    def database_label(self) -> str:
        return "PostgreSQL" if self.postgres else "SQLite"

    def new_database(self) -> dict[str, Any] | None:
        """The ``database:`` section for a new homeserver: None for SQLite, or a
        fresh database in the run's PostgreSQL cluster (the e2e fixture's, started
        on first use and stopped when the process exits)."""
        if not self.postgres:
            return None
        from tests.e2e.postgres import postgres_cluster

        return postgres_cluster().new_database()


@dataclass
class Comparison:
    """One "before versus after" row: the same work done two ways."""

    name: str
    baseline_label: str
    candidate_label: str
    baseline_seconds: list[float] = field(default_factory=list)
    candidate_seconds: list[float] = field(default_factory=list)
    notes: str = ""
    #: For a row that compares a time with a target rather than two ways of doing
    #: the same work: the ratio column is then candidate / baseline, under this
    #: heading (e.g. "latency / interval": 0.8x is 80% of the interval). Otherwise
    #: the column is the speed-up, baseline / candidate.
    candidate_over_baseline: str | None = None

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline_seconds)

    @property
    def candidate_median(self) -> float:
        return statistics.median(self.candidate_seconds)

    @property
    def ratio_heading(self) -> str:
        return self.candidate_over_baseline or "speed-up"

    @property
    def ratio(self) -> float:
        """How many times faster the candidate is than the baseline; or, with
        :attr:`candidate_over_baseline`, the candidate as a multiple of the
        baseline."""
        if self.candidate_over_baseline is not None:
            return self.candidate_median / self.baseline_median
        return self.baseline_median / self.candidate_median


BenchFunction = Callable[[BenchOptions], Awaitable[Sequence[Comparison]]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    run: BenchFunction


_registry: dict[str, Benchmark] = {}


def register(name: str, description: str) -> Callable[[BenchFunction], BenchFunction]:
    def decorator(function: BenchFunction) -> BenchFunction:
        if name in _registry:
            raise ValueError(f"benchmark {name!r} is registered twice")
        _registry[name] = Benchmark(name, description, function)
        return function

    return decorator


def registered() -> dict[str, Benchmark]:
    return dict(sorted(_registry.items()))


def discover() -> dict[str, Benchmark]:
    """Import every module of this package, so that each registers its benchmarks."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return registered()


def format_table(
    benchmark: str, options: BenchOptions, rows: Sequence[Comparison]
) -> str:
    rounds = max((len(row.candidate_seconds) for row in rows), default=0)
    headings = {row.ratio_heading for row in rows}
    heading = headings.pop() if len(headings) == 1 else "ratio"
    lines = [
        f"== {benchmark} on {options.database_label}, median of {rounds} ==",
        f"{'what':<34} {'baseline':>12} {'candidate':>12} {heading:>9}",
    ]
    for row in rows:
        digits = 1 if row.candidate_over_baseline is None else 2
        lines.append(
            f"{row.name:<34} {row.baseline_median * 1000:>10.0f}ms "
            f"{row.candidate_median * 1000:>10.0f}ms {row.ratio:>8.{digits}f}x"
            + ("" if heading == row.ratio_heading else f" ({row.ratio_heading})")
        )
        lines.append(f"{'':<4}baseline: {row.baseline_label}")
        lines.append(f"{'':<4}candidate: {row.candidate_label}")
        if row.notes:
            lines.append(f"{'':<4}{row.notes}")
    return "\n".join(lines)
