"""MSC3192 batch state as a :class:`~msc_extensions.feature.Feature`."""

from collections.abc import Iterable

from synapse.http.servlet import RestServlet

from msc_extensions._synapse_private.events import BatchStateEvents
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.msc3192.config import RATE_LIMITER_NAME, Msc3192Config
from msc_extensions.msc3192.handler import BatchStateHandler
from msc_extensions.msc3192.servlet import BatchStateServlet


class Msc3192Feature(Feature):
    name = "msc3192"
    unstable_features = ("org.matrix.msc3192",)

    def __init__(self, context: FeatureContext, config: Msc3192Config) -> None:
        hs = context.hs

        def make_events() -> BatchStateEvents:
            return BatchStateEvents(
                hs,
                limiter_name=RATE_LIMITER_NAME,
                per_second=config.rate_limit.per_second,
                burst_count=config.rate_limit.burst_count,
            )

        # One servlet for every client listener of the process, so that they all
        # share one transaction cache and one rate limiter.
        self._servlet = BatchStateServlet(
            context.api, config, BatchStateHandler(make_events)
        )

    def client_servlets(self) -> Iterable[RestServlet]:
        return [self._servlet]
