"""A benchmark-only Synapse module: the longest gap between reactor ticks.

Loaded next to msc_extensions (``{"module": "benchmarks._reactor_probe.
ReactorGapProbe", "config": {}}``), it ticks every :data:`TICK_S` and serves
``GET /_synapse/reactor_probe``: ``{"max_gap_ms": ..., "max_gc_ms": ...,
"max_gc_generation": ...}``, the longest time between two ticks since the previous
GET (which resets it), and the longest garbage collection pass in that time, of
any thread (Synapse runs its collections on the reactor), with its generation. A
tick that comes late means the reactor was busy for that long; a collection as long
says what kept it busy.
"""

import gc
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
        self._gc_started = 0.0
        self._max_gc_s = 0.0
        self._max_gc_generation = -1
        gc.callbacks.append(self._on_gc)
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

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
            return
        took = time.monotonic() - self._gc_started
        if took > self._max_gc_s:
            self._max_gc_s = took
            self._max_gc_generation = info["generation"]

    def read_and_reset(self) -> dict[str, float]:
        read = {
            "max_gap_ms": self._max_gap_s * 1000,
            "max_gc_ms": self._max_gc_s * 1000,
            "max_gc_generation": self._max_gc_generation,
        }
        self._max_gap_s = self._max_gc_s = 0.0
        self._max_gc_generation = -1
        return read


class _GapResource(Resource):
    isLeaf = True

    def __init__(self, probe: ReactorGapProbe) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._probe = probe

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")  # type: ignore[no-untyped-call]
        return json.dumps(self._probe.read_and_reset()).encode()
