"""Prometheus metrics of batch_state requests.

Registered in prometheus_client's default registry, as Synapse registers its own,
with the ``server_name`` label as Synapse's carry. Request counts, status codes and
latencies are Synapse's own HTTP metrics, labelled ``servlet="BatchStateServlet"``;
these add what only the handler knows: how large each batch was and what became of
its items.
"""

from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from msc_extensions.msc3192.items import ItemResult

SERVER_NAME_LABEL = "server_name"

#: An item that produced an event ID (a new event, or the existing one it equals).
SENT = "sent"
#: An item that produced ``null`` in the answer.
FAILED = "failed"

batch_items = Histogram(
    "synapse_msc_extensions_batch_state_items",
    "Items in each batch_state request that reached the handler (valid, in a "
    "known room, within the rate limit)",
    labelnames=[SERVER_NAME_LABEL],
    buckets=(1, 2, 5, 10, 20, 30, 40, 50, float("inf")),
)

item_results = Counter(
    "synapse_msc_extensions_batch_state_item_results_total",
    "batch_state items by what the answer holds for them: an event ID (sent) or "
    "null (failed)",
    labelnames=[SERVER_NAME_LABEL, "result"],
)


class BatchStateMetrics:
    """The metrics of one homeserver."""

    def __init__(self, server_name: str) -> None:
        self._items = batch_items.labels(server_name)
        self._sent = item_results.labels(server_name, SENT)
        self._failed = item_results.labels(server_name, FAILED)

    def batch_applied(self, results: Sequence[ItemResult]) -> None:
        self._items.observe(len(results))
        failed = sum(result.event_id is None for result in results)
        self._sent.inc(len(results) - failed)
        self._failed.inc(failed)
