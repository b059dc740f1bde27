"""Prometheus metrics of the current-state answers.

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
