"""The module's Prometheus metrics, as Synapse's metrics listener serves them.

The names are the module's public interface (docs/partial-state.md, "Metrics"); the
demo names them rather than importing the module, whose layout may change. The
end-to-end test checks that each one is served.
"""

from demo_lib.output import Command

PREFIX = "synapse_msc_extensions_"

MODULE_METRICS = (
    "synapse_msc_extensions_partial_state_rooms",
    "synapse_msc_extensions_partial_state_resync_attempts_total",
    "synapse_msc_extensions_partial_state_resync_successes_total",
    "synapse_msc_extensions_partial_state_resync_failures_total",
    "synapse_msc_extensions_partial_state_seconds_to_full_state",
)


def metrics_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/_synapse/metrics"


def metrics_notes(port: int) -> list[str]:
    return [
        f"Synapse's metrics listener: {metrics_url(port)}. The module's metrics:",
        *(f"  {name}" for name in MODULE_METRICS),
    ]


def metrics_command(port: int, whose: str = "") -> Command:
    return Command(
        f"The module's metrics{whose}, with their current values:",
        ["curl", "-s", metrics_url(port)],
        pipe=[["grep", f"^{PREFIX}"]],
    )
