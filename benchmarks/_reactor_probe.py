"""A benchmark-only Synapse module: the longest gap between reactor ticks.

Loaded next to msc_extensions (``{"module": "benchmarks._reactor_probe.
ReactorGapProbe", "config": {}}``), it ticks every :data:`TICK_S` and serves
``GET /_synapse/reactor_probe``: ``{"max_gap_ms": ...}``, the longest time between
two ticks since the previous GET (which resets it). A tick that comes late means
the reactor was busy for that long.
"""

import json
import time
from typing import Any

from synapse.module_api import ModuleApi
from twisted.internet.task import LoopingCall
from twisted.web.resource import Resource
from twisted.web.server import Request

PATH = "/_synapse/reactor_probe"
TICK_S = 0.005


class ReactorGapProbe:
    def __init__(self, config: Any, api: ModuleApi) -> None:
        self._last = time.monotonic()
        self._max_gap_s = 0.0
        self._loop = LoopingCall(self._tick)
        self._loop.start(TICK_S, now=False)
        api.register_web_resource(PATH, _GapResource(self))

    @staticmethod
    def parse_config(config: Any) -> Any:
        return config

    def _tick(self) -> None:
        now = time.monotonic()
        self._max_gap_s = max(self._max_gap_s, now - self._last)
        self._last = now

    def read_and_reset(self) -> float:
        gap, self._max_gap_s = self._max_gap_s, 0.0
        return gap


class _GapResource(Resource):
    isLeaf = True

    def __init__(self, probe: ReactorGapProbe) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._probe = probe

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")  # type: ignore[no-untyped-call]
        return json.dumps({"max_gap_ms": self._probe.read_and_reset() * 1000}).encode()
