"""Per-room exponential back-off between resync attempts."""


def next_delay_ms(consecutive_failures: int, interval_ms: int, maximum_ms: int) -> int:
    """The wait after the ``consecutive_failures``-th failure in a row (1, 2, ...):
    ``interval``, then twice that, four times, ... never more than ``maximum``."""
    if consecutive_failures <= 1:
        return min(interval_ms, maximum_ms)
    # Cap the exponent: 2**64 intervals is past any maximum anyway.
    exponent = min(consecutive_failures - 1, 64)
    return min(interval_ms * (1 << exponent), maximum_ms)
