"""Prometheus metrics of the answers sent because a room is partial-state here.

Registered in prometheus_client's default registry, as Synapse registers its own,
with the ``server_name`` label as Synapse's carry.
"""

from prometheus_client import Counter

SERVER_NAME_LABEL = "server_name"

refusals = Counter(
    "synapse_msc_extensions_partial_state_refusals_total",
    "Federation answers sent with the MSC3895 error code (the module's and "
    "Synapse's own), by the servlet that answered, as Synapse's HTTP metrics "
    "name it",
    labelnames=[SERVER_NAME_LABEL, "servlet"],
)


class RefusalMetrics:
    """The metrics of one homeserver."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name

    def refused(self, servlet: str) -> None:
        refusals.labels(self._server_name, servlet).inc()
