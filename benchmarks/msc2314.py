"""MSC2314: a room's current state without an event ID, against Synapse's own
``/state?event_id=<latest event>``.

One homeserver A serves; a second, B, exists only to be the origin that asks: its
user joins A's rooms while they are small, A learns B's key, then B is stopped (so
it takes no CPU from A) and the requests are signed with B's key. The rooms grow
with MSC3192 ``batch_state`` (50 custom state events a request): registering tens
of thousands of members would take far longer than the benchmark, so the state is
~2,000 (and ~20,000) non-member state events plus a handful of members.

Each round sends a message first, so that every uncached request is uncached (a new
forward extremity for this ``/state``, a new ``event_id`` for Synapse's), then
measures, over HTTPS, end to end (request, server, response and parse):

- this ``/state`` without ``event_id`` and Synapse's ``/state?event_id=``, in
  alternating order between rounds (whichever goes second finds warmer caches);
- the same two requests repeated, inside their cache windows;
- ``/state_ids`` without ``event_id``.

From the server itself: the module's own work per request (its histogram
``synapse_msc_extensions_current_state_answer_seconds`` on Synapse's metrics
listener: access checks, cache and computation, without the X-Matrix
authentication), the request's time from the access log ("Processed request",
which excludes sending), the longest gap between reactor ticks during
this ``/state`` and the longest garbage collection pass in it
(:mod:`benchmarks._reactor_probe`), and the peak growth of the
process's resident memory during it (``VmHWM`` after, less ``VmRSS`` before, with
the peak reset through ``/proc/<pid>/clear_refs``).

``MSC2314_BENCH_SIZES`` (default ``2000,20000``) sets the room sizes.
"""

import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks import BenchOptions, Comparison, register
from tests.e2e.client import JsonClient
from tests.e2e.config import LOOPBACK, free_port, listener
from tests.e2e.federation import signed_request
from tests.e2e.homeserver import Homeserver, RegisteredUser, start_homeserver
from tests.e2e.rooms import create_room, join_over_federation, send_message

BATCH = 50
BATCH_PATH = (
    "/_matrix/client/unstable/org.matrix.msc3192/rooms/{room}/batch_state/{txn}"
)
MODULE_CONFIG = {
    "msc3192": {"rate_limit": {"per_second": 1000, "burst_count": 1000}},
    "msc2314": {"rate_limit": {"per_second": 1000, "burst_count": 1000}},
}
PROBE = {"module": "benchmarks._reactor_probe.ReactorGapProbe", "config": {}}
_PROCESSED = re.compile(r"Processed request: ([0-9.]+)sec/([0-9.]+)sec .*\"GET (\S+) ")


class Origin:
    """Signs requests to A as B (stopped), and times them."""

    def __init__(
        self, client: JsonClient, a: Homeserver, b: Homeserver, metrics_url: str
    ) -> None:
        self.client = client
        self.metrics_url = metrics_url
        self.a = a
        self.b_name = b.server_name
        self.key = b.signing_key()
        self.tag = 0

    async def get(self, uri: str) -> tuple[float, str, Any]:
        """(seconds end to end, the tagged URI, the body)."""
        self.tag += 1
        tagged = f"{uri}{'&' if '?' in uri else '?'}bench={self.tag}"
        started = time.perf_counter()
        status, body = await signed_request(
            self.client,
            origin=self.b_name,
            signing_key=self.key,
            destination=self.a.server_name,
            destination_url=self.a.federation_url,
            method="GET",
            uri=tagged,
        )
        seconds = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"GET {uri}: {status} {body}")
        return seconds, tagged, body


_ANSWER_SUM = "synapse_msc_extensions_current_state_answer_seconds_sum{"


async def answer_seconds_sum(client: JsonClient, metrics_url: str) -> float:
    """The module's own time answering /state without event_id, summed over every
    request so far (its histogram on Synapse's metrics listener)."""
    status, body = await client.request("GET", metrics_url)
    if status != 200:
        raise RuntimeError(f"metrics: {status}")
    for line in str(body).splitlines():
        if line.startswith(_ANSWER_SUM) and 'endpoint="state"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def handler_seconds(hs: Homeserver, tagged_uri: str) -> float:
    """The server's processing time of one request, from its access log."""
    log = Path(hs.directory / "homeserver.log").read_text(errors="replace")
    for line in reversed(log.splitlines()):
        match = _PROCESSED.search(line)
        if match and match.group(3) == tagged_uri:
            return float(match.group(1))
    raise RuntimeError(f"no access log line for {tagged_uri}")


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak_memory(pid: int) -> int:
    """Resets the process's peak RSS where the kernel allows; returns VmRSS (kB)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_kb(pid, "VmRSS")


async def fill_room(
    client: JsonClient, a: Homeserver, owner: RegisteredUser, room_id: str, n: int
) -> None:
    for start in range(0, n, BATCH):
        items = [
            {
                "event_type": "org.example.bench",
                "state_key": f"key-{i}",
                "content": {"i": i, "padding": "x" * 200},
            }
            for i in range(start, min(n, start + BATCH))
        ]
        status, body = await client.put_json(
            a.client_url
            + BATCH_PATH.format(room=quote(room_id), txn=f"fill-{room_id}-{start}"),
            items,
            access_token=owner.access_token,
        )
        if status != 200:
            raise RuntimeError(f"batch_state: {status} {body}")


async def reactor_probe(client: JsonClient, a: Homeserver) -> dict[str, float]:
    """The longest reactor gap and garbage collection since the last call."""
    status, body = await client.get_json(a.client_url + "/_synapse/reactor_probe")
    if status != 200:
        raise RuntimeError(f"reactor probe: {status} {body}")
    probed: dict[str, float] = body
    return probed


def ms(seconds: list[float], digits: int = 1) -> str:
    return f"{statistics.median(seconds) * 1000:.{digits}f} ms"


@dataclass
class OursMeasured:
    seconds: float
    handler_seconds: float
    module_seconds: float
    reactor_gap_ms: float
    longest_gc: str
    memory_growth_kb: int
    pdus: int


async def measure_ours(
    client: JsonClient, origin: Origin, a: Homeserver, path: str
) -> OursMeasured:
    """One uncached request of this /state, with the server's own figures."""
    await reactor_probe(client, a)
    module_before = await answer_seconds_sum(client, origin.metrics_url)
    rss_before = reset_peak_memory(a.process.pid)
    seconds, tagged, body = await origin.get(path)
    peak = _status_kb(a.process.pid, "VmHWM")
    probed = await reactor_probe(client, a)
    module_after = await answer_seconds_sum(client, origin.metrics_url)
    return OursMeasured(
        seconds,
        handler_seconds(a, tagged),
        module_after - module_before,
        probed["max_gap_ms"],
        f"{probed['max_gc_ms']:.0f} ms, generation {probed['max_gc_generation']:.0f}",
        max(0, peak - rss_before),
        len(body["pdus"]),
    )


async def measure_room(
    client: JsonClient,
    origin: Origin,
    a: Homeserver,
    owner: RegisteredUser,
    room_id: str,
    size: int,
    rounds: int,
) -> list[Comparison]:
    ours_path = f"/_matrix/federation/v1/state/{quote(room_id)}"
    ids_path = f"/_matrix/federation/v1/state_ids/{quote(room_id)}"
    label = f"{size} state events"
    uncached = Comparison(
        f"/state, uncached ({label})",
        "Synapse's /state?event_id=<latest>",
        "/state without event_id",
    )
    repeat = Comparison(
        f"/state, repeat ({label})",
        "Synapse's cached repeat",
        "this /state's cached repeat",
    )
    ids = Comparison(
        f"/state_ids vs /state ({label})",
        "/state without event_id, uncached",
        "/state_ids without event_id, uncached",
    )
    handler_uncached: list[float] = []
    handler_repeat: list[float] = []
    module_uncached: list[float] = []
    module_repeat: list[float] = []
    builtin_handler_uncached: list[float] = []
    builtin_handler_repeat: list[float] = []
    gaps: list[float] = []
    memory_kb: list[int] = []
    pdus = 0
    # One warm-up round, not counted: first reads of a new room.
    for round_index in range(rounds + 1):
        counted = round_index > 0
        await send_message(client, a, owner, room_id, f"round {round_index}")
        status, latest = await client.get_json(
            a.client_url
            + f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=1",
            access_token=owner.access_token,
        )
        event_id = latest["chunk"][0]["event_id"]
        builtin_path = f"{ours_path}?event_id={quote(event_id)}"

        if round_index % 2:
            ours = await measure_ours(client, origin, a, ours_path)
            builtin_seconds, builtin_tagged, _ = await origin.get(builtin_path)
        else:
            builtin_seconds, builtin_tagged, _ = await origin.get(builtin_path)
            ours = await measure_ours(client, origin, a, ours_path)
        pdus = ours.pdus
        if counted:
            uncached.candidate_seconds.append(ours.seconds)
            uncached.baseline_seconds.append(builtin_seconds)
            handler_uncached.append(ours.handler_seconds)
            module_uncached.append(ours.module_seconds)
            gaps.append(ours.reactor_gap_ms)
            memory_kb.append(ours.memory_growth_kb)
            builtin_handler_uncached.append(handler_seconds(a, builtin_tagged))

        module_before = await answer_seconds_sum(client, origin.metrics_url)
        seconds, tagged, body = await origin.get(ours_path)
        module_after = await answer_seconds_sum(client, origin.metrics_url)
        if counted:
            repeat.candidate_seconds.append(seconds)
            handler_repeat.append(handler_seconds(a, tagged))
            module_repeat.append(module_after - module_before)
        seconds, tagged, _ = await origin.get(builtin_path)
        if counted:
            repeat.baseline_seconds.append(seconds)
            builtin_handler_repeat.append(handler_seconds(a, tagged))
        seconds, _, _ = await origin.get(ids_path)
        if counted:
            ids.candidate_seconds.append(seconds)
            ids.baseline_seconds.append(uncached.candidate_seconds[-1])
        if counted:
            print(
                f"  {label} round {round_index}: ours {uncached.candidate_seconds[-1] * 1000:.0f} ms, "
                f"built-in {uncached.baseline_seconds[-1] * 1000:.0f} ms, "
                f"repeats {repeat.candidate_seconds[-1] * 1000:.0f} / "
                f"{repeat.baseline_seconds[-1] * 1000:.0f} ms, "
                f"state_ids {ids.candidate_seconds[-1] * 1000:.0f} ms, "
                f"max reactor gap {gaps[-1]:.0f} ms "
                f"(longest garbage collection {ours.longest_gc})",
                flush=True,
            )
    module_share = statistics.median(module_repeat) / statistics.median(module_uncached)
    uncached.notes = (
        f"{pdus} PDUs; the module's own work {ms(module_uncached)}; the request "
        f"in the access log {ms(handler_uncached)} (Synapse's "
        f"{ms(builtin_handler_uncached)}, which encodes after it); "
        f"longest reactor gap during it {max(gaps):.0f} ms (median "
        f"{statistics.median(gaps):.0f} ms); peak memory growth "
        f"{statistics.median(memory_kb) / 1024:.1f} MB (max {max(memory_kb) / 1024:.1f})"
    )
    repeat.notes = (
        f"the module's own work {ms(module_repeat, 3)} = {module_share * 100:.2f}% "
        f"of its uncached work; the request in the access log {ms(handler_repeat)} "
        f"(Synapse's {ms(builtin_handler_repeat)}; both with the X-Matrix "
        "authentication)"
    )
    return [uncached, repeat, ids]


@register("msc2314", "current state without event_id vs Synapse's /state?event_id")
async def run(options: BenchOptions) -> list[Comparison]:
    sizes = [
        int(s) for s in os.environ.get("MSC2314_BENCH_SIZES", "2000,20000").split(",")
    ]
    client = JsonClient()
    metrics_port = free_port()
    a = await start_homeserver(
        None,
        module_config=MODULE_CONFIG,
        extra_modules=[PROBE],
        extra_listeners=[listener(metrics_port, ["metrics"])],
        overrides={"enable_metrics": True},
        database=options.new_database(),
    )
    b = await start_homeserver(None)
    rows: list[Comparison] = []
    try:
        owner = await a.register_user(client, "owner")
        visitor = await b.register_user(client, "visitor")
        rooms = []
        for _ in sizes:
            room_id = await create_room(client, a, owner.access_token)
            await join_over_federation(client, b, a, room_id, visitor.access_token)
            rooms.append(room_id)
        origin = Origin(
            client, a, b, f"http://{LOOPBACK}:{metrics_port}/_synapse/metrics"
        )
        await origin.get(f"/_matrix/federation/v1/state_ids/{quote(rooms[0])}")
        await b.stop()  # A knows B's key now; B takes no CPU from here on.
        for size, room_id in zip(sizes, rooms, strict=True):
            started = time.monotonic()
            await fill_room(client, a, owner, room_id, size)
            print(
                f"  filled a room with {size} state events in "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )
            rows += await measure_room(
                client, origin, a, owner, room_id, size, options.rounds
            )
    finally:
        await client.close()
        await a.stop()
        await b.stop()
    return rows
