"""Prometheus metrics of partial-state rooms and their resyncs.

Registered in prometheus_client's default registry, as Synapse registers its own, so
they appear on Synapse's metrics listener next to Synapse's. Every metric carries the
``server_name`` label, as Synapse's do, so that several homeservers in one process
keep apart.
"""

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

SERVER_NAME_LABEL = "server_name"

partial_state_rooms = Gauge(
    "synapse_msc_extensions_partial_state_rooms",
    "Rooms that have only partial state on this server now",
    labelnames=[SERVER_NAME_LABEL],
)

oldest_room_age_seconds = Gauge(
    "synapse_msc_extensions_partial_state_oldest_room_age_seconds",
    "Seconds since the join of the longest-partial room (0 when there is none), "
    "computed when scraped",
    labelnames=[SERVER_NAME_LABEL],
)

resync_attempts = Counter(
    "synapse_msc_extensions_partial_state_resync_attempts_total",
    "Partial-state resyncs started, by Synapse or by the module",
    labelnames=[SERVER_NAME_LABEL],
)

resync_successes = Counter(
    "synapse_msc_extensions_partial_state_resync_successes_total",
    "Partial-state resyncs that brought their room to full state",
    labelnames=[SERVER_NAME_LABEL],
)

resync_failures = Counter(
    "synapse_msc_extensions_partial_state_resync_failures_total",
    "Partial-state resyncs that ended with the room still partial",
    labelnames=[SERVER_NAME_LABEL],
)

seconds_to_full_state = Histogram(
    "synapse_msc_extensions_partial_state_seconds_to_full_state",
    "Seconds from the partial-state join to full state",
    labelnames=[SERVER_NAME_LABEL],
    buckets=(1, 5, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, float("inf")),
)


class ResyncMetrics:
    """The metrics of one homeserver."""

    def __init__(self, server_name: str, now_ms: Callable[[], int]) -> None:
        """``now_ms``: the homeserver's clock, in wall-clock milliseconds."""
        self._now_ms = now_ms
        labels = {SERVER_NAME_LABEL: server_name}
        self._rooms = partial_state_rooms.labels(**labels)
        self._attempts = resync_attempts.labels(**labels)
        self._successes = resync_successes.labels(**labels)
        self._failures = resync_failures.labels(**labels)
        self._seconds = seconds_to_full_state.labels(**labels)
        self._oldest_join_ms: int | None = None
        oldest_room_age_seconds.labels(**labels).set_function(self._oldest_room_age)

    def set_partial_state_rooms(self, count: int, oldest_join_ms: int | None) -> None:
        """``count`` rooms are partial-state now; the first of them joined at
        ``oldest_join_ms`` (wall-clock milliseconds), None when there is none."""
        self._rooms.set(count)
        self._oldest_join_ms = oldest_join_ms

    def _oldest_room_age(self) -> float:
        # Called by prometheus_client when the metrics are collected, possibly on
        # another thread: reads one attribute, which is replaced, never mutated.
        joined_ms = self._oldest_join_ms
        if joined_ms is None:
            return 0.0
        return max(0.0, (self._now_ms() - joined_ms) / 1000)

    def attempt(self) -> None:
        self._attempts.inc()

    def success(self, seconds_since_join: float | None) -> None:
        self._successes.inc()
        if seconds_since_join is not None:
            self._seconds.observe(max(0.0, seconds_since_join))

    def failure(self) -> None:
        self._failures.inc()
