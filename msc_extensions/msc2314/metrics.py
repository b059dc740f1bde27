"""Prometheus metrics of the current-state answers and of room recoveries.

Registered in prometheus_client's default registry, as Synapse registers its own,
with the ``server_name`` label as Synapse's carry.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

SERVER_NAME_LABEL = "server_name"

answer_seconds = Histogram(
    "synapse_msc_extensions_current_state_answer_seconds",
    "Seconds to answer /state or /state_ids without event_id (access checks, cache "
    "and computation; not the X-Matrix authentication, not the sending)",
    labelnames=[SERVER_NAME_LABEL, "endpoint"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, float("inf")),
)

computations = Counter(
    "synapse_msc_extensions_current_state_computations_total",
    "Current-state answers computed rather than taken from the cache",
    labelnames=[SERVER_NAME_LABEL, "endpoint"],
)

recoveries = Counter(
    "synapse_msc_extensions_room_recoveries_total",
    "Room recoveries (the recover admin API) that ended, by outcome: succeeded or "
    "failed",
    labelnames=[SERVER_NAME_LABEL, "outcome"],
)

recovery_seconds = Histogram(
    "synapse_msc_extensions_room_recovery_seconds",
    "Seconds from the start of a room recovery to its end, whatever the outcome",
    labelnames=[SERVER_NAME_LABEL],
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, float("inf")),
)


class CurrentStateMetrics:
    """The metrics of one homeserver."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name

    @contextmanager
    def answering(self, endpoint: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            answer_seconds.labels(self._server_name, endpoint).observe(
                time.perf_counter() - started
            )

    def computed(self, endpoint: str) -> None:
        computations.labels(self._server_name, endpoint).inc()


class RecoveryMetrics:
    """The recovery metrics of one homeserver (its main process)."""

    def __init__(self, server_name: str, outcomes: tuple[str, ...]) -> None:
        self._server_name = server_name
        # Every outcome is exported from the start, at 0, so that rates and
        # alerts see the first one.
        for outcome in outcomes:
            recoveries.labels(server_name, outcome)
        recovery_seconds.labels(server_name)

    @contextmanager
    def recovering(self) -> Iterator[None]:
        """Times the recovery run inside; it records its outcome itself
        (:meth:`ended`)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            recovery_seconds.labels(self._server_name).observe(
                time.perf_counter() - started
            )

    def ended(self, outcome: str) -> None:
        recoveries.labels(self._server_name, outcome).inc()
