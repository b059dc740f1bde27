"""The shipped monitoring against real parts: Debian's Prometheus scrapes a real
homeserver with the module, loads ``contrib/prometheus/msc_extensions.rules.yml``,
and answers every query of ``contrib/grafana/msc_extensions.json`` with data.

The homeserver is B of the partial-state pair (``partial_state_scenario``): B joins
A's room with partial state while A refuses to serve state, so the partial-state
panels show a real stalled room, failed resyncs and, once A returns, a resync that
succeeds and its time to full state. A, signing as itself, sends B the federation
requests the other panels count.

The dashboard's template variables are expanded in one way, :func:`expand`:
``$job`` to the scrape job, ``$instance`` to B's metrics listener and
``$__rate_interval`` to 5m (longer than the test, so every rate covers all of its
traffic).
"""

import json
import math
import re
import time
from typing import Any
from urllib.parse import quote, urlencode

import yaml

from tests.e2e.config import LOOPBACK, free_port
from tests.e2e.homeserver import E2ETestCase
from tests.e2e.partial_state_scenario import (
    MODULE_CONFIG,
    PartialStatePair,
    start_partial_state_pair,
    time_to_full_state,
)
from tests.e2e.process import REPO_ROOT, pause
from tests.e2e.prometheus import JOB, PrometheusServer, promtool, start_prometheus

DASHBOARD = REPO_ROOT / "contrib" / "grafana" / "msc_extensions.json"
RULES = REPO_ROOT / "contrib" / "prometheus" / "msc_extensions.rules.yml"
RULES_TESTS = REPO_ROOT / "contrib" / "prometheus" / "msc_extensions.rules.test.yml"

RATE_INTERVAL = "5m"
BATCH_STATE = "/_matrix/client/unstable/org.matrix.msc3192"
MSC4046_CLIENT = "/_matrix/client/unstable/org.matrix.msc4046"
MSC4046_FEDERATION = "/_matrix/federation/unstable/org.matrix.msc4046"
ADMIN = "/_synapse/admin/v1/msc_extensions"


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """Every panel's queries, as ``(panel title, expression)``, rows' panels
    included."""
    queries = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    return queries


def promql_regex(value: str) -> str:
    """``value`` as a regular expression matching only itself, inside a PromQL
    string (whose backslashes are escaped again), as Grafana writes a selected
    value of a multi-value variable."""
    return re.escape(value).replace("\\", "\\\\")


def expand(expr: str, instance_regex: str) -> str:
    """The dashboard's template variables, as the test fills them in (``$job``
    and ``$instance`` are regular expressions, as Grafana's multi-value
    variables are)."""
    expanded = (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$job", promql_regex(JOB))
        .replace("$instance", instance_regex)
    )
    if "$" in expanded:
        raise AssertionError(f"an unknown variable in {expr}")
    return expanded


class RulesTests(E2ETestCase):
    def test_the_rules_pass_promtool_and_their_unit_tests(self) -> None:
        self.assertIn("SUCCESS", promtool("check", "rules", str(RULES)))
        # Synthetic series: each alert fires where it should and only there.
        promtool("test", "rules", RULES_TESTS.name, cwd=RULES_TESTS.parent)


class MonitoringTests(E2ETestCase):
    async def test_prometheus_scrapes_the_module_and_every_panel_has_data(
        self,
    ) -> None:
        metrics_port = free_port()
        pair = await start_partial_state_pair(
            self,
            self.client,
            b_module_config=MODULE_CONFIG,
            members=2,
            b_options={
                "extra_listeners": [
                    {
                        "type": "metrics",
                        "port": metrics_port,
                        "bind_addresses": [LOOPBACK],
                    }
                ],
                "overrides": {"enable_metrics": True},
            },
        )
        instance = f"{LOOPBACK}:{metrics_port}"
        # Synapse creates a request's series when it first answers it: traffic
        # before the first scrape and again after it, as on a live server, so
        # that rates see every series grow.
        await self.traffic_while_partial(pair, 1)
        prometheus = await start_prometheus(
            self, self.client, [instance], rule_files=[RULES]
        )
        await prometheus.wait_for_scrapes_after(self.client, time.time(), 0)
        await self.traffic_while_partial(pair, 2)
        self.assertIsNotNone(await time_to_full_state(pair, 60), "B never got full")
        await self.traffic_after_full_state(pair)
        await prometheus.wait_for_scrapes_after(self.client, time.time())

        await self.assert_what_prometheus_saw(prometheus)
        await self.assert_rules_loaded(prometheus)
        await self.assert_every_panel_has_data(prometheus, instance)

    # Traffic.
    async def traffic_while_partial(self, pair: PartialStatePair, round: int) -> None:
        await self.federation_traffic_while_partial(pair)
        await self.client_traffic(pair, round)

    async def federation_traffic_while_partial(self, pair: PartialStatePair) -> None:
        """A asks B, signed: what B refuses or answers while the room is partial."""
        room = quote(pair.room_id)
        join = quote(pair.b_join_event_id())
        answers = {}
        for path in (
            f"/_matrix/federation/v1/state/{room}",
            f"/_matrix/federation/v1/state_ids/{room}?event_id={join}",
            f"/_matrix/federation/v1/event/{join}",
            f"/_matrix/federation/v1/event_auth/{room}/{join}",
            f"/_matrix/federation/v1/hierarchy/{room}",
        ):
            status, body = await pair.a.federation_request(
                self.client, pair.b, "GET", path
            )
            answers[path.split("/")[4]] = (status, body)
        # The module's /state, and Synapse's own /state_ids, refuse.
        for endpoint in ("state", "state_ids"):
            status, body = answers[endpoint]
            self.assertEqual(status, 403, body)
            self.assertIn("PARTIAL_STATE", body["errcode"])
        # B must answer about the join it sent A.
        self.assertEqual(answers["event"][0], 200, answers["event"])

    async def client_traffic(self, pair: PartialStatePair, round: int) -> None:
        """bob, on B: batch_state (one good batch with a failing item, one bad
        request), make_pdu and send_pdu, a failed recovery, the status API. A:
        federation make_pdu and send_pdu. ``round`` keeps transaction IDs apart."""
        bob = pair.bob
        status, body = await self.client.post_json(
            pair.b.client_url + "/_matrix/client/v3/createRoom",
            {"preset": "private_chat"},
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, body)
        room_id: str = body["room_id"]
        batch_url = pair.b.client_url + f"{BATCH_STATE}/rooms/{quote(room_id)}"
        status, body = await self.client.put_json(
            batch_url + f"/batch_state/t{round}a",
            [
                {"event_type": "m.room.topic", "content": {"topic": "watched"}},
                {"event_type": "m.room.name", "content": {"name": "Monitoring"}},
                # Nobody may join for another user: this item alone fails.
                {
                    "event_type": "m.room.member",
                    "state_key": pair.owner.user_id,
                    "content": {"membership": "join"},
                },
            ],
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, body)
        self.assertEqual([e is None for e in body], [False, False, True])
        status, body = await self.client.put_json(
            batch_url + f"/batch_state/t{round}b", [], access_token=bob.access_token
        )
        self.assertEqual(status, 400, body)

        pdu_url = pair.b.client_url + f"{MSC4046_CLIENT}/room/{quote(room_id)}"
        status, template = await self.client.get_json(
            pdu_url + "/make_pdu/m.room.message", access_token=bob.access_token
        )
        self.assertEqual(status, 200, template)
        pdu = {**template["pdu"], "content": {"msgtype": "m.text", "body": "hi"}}
        status, body = await self.client.put_json(
            pdu_url + f"/send_pdu/p{round}", pdu, access_token=bob.access_token
        )
        self.assertEqual(status, 200, body)

        # A's owner is not in bob's private room: B refuses the template, and a
        # PDU whose sender is not one of A's users.
        status, body = await pair.a.federation_request(
            self.client,
            pair.b,
            "GET",
            f"{MSC4046_FEDERATION}/make_pdu/{quote(room_id)}?"
            + urlencode(
                {
                    "event_type": "m.room.message",
                    "user_id": pair.owner.user_id,
                    "ver": ["10", "11", "12"],
                },
                doseq=True,
            ),
        )
        self.assertEqual(status, 403, body)
        status, body = await pair.a.federation_request(
            self.client,
            pair.b,
            "PUT",
            f"{MSC4046_FEDERATION}/send_pdu/{quote(room_id)}",
            pdu,
        )
        self.assertEqual(status, 403, body)

        # A room A does not know: the recovery fails.
        unknown = quote(f"!unknown:{pair.a.server_name}")
        status, body = await self.client.post_json(
            pair.b.client_url + f"{ADMIN}/rooms/{unknown}/recover",
            {"servers": [pair.a.server_name]},
            access_token=bob.access_token,
        )
        self.assertGreaterEqual(status, 400, body)
        status, body = await self.client.get_json(
            pair.b.client_url + f"{ADMIN}/status", access_token=bob.access_token
        )
        self.assertEqual(status, 200, body)

    async def traffic_after_full_state(self, pair: PartialStatePair) -> None:
        """A asks B for the room's current state, now answered; bob recovers the
        room (forced: B has A's latest events, so it ends at once)."""
        room = quote(pair.room_id)
        for endpoint in ("state", "state_ids"):
            status, body = await pair.a.federation_request(
                self.client, pair.b, "GET", f"/_matrix/federation/v1/{endpoint}/{room}"
            )
            self.assertEqual(status, 200, body)
        url = pair.b.client_url + f"{ADMIN}/rooms/{room}/recover"
        status, body = await self.client.post_json(
            url,
            {"servers": [pair.a.server_name], "force": True},
            access_token=pair.bob.access_token,
        )
        self.assertIn(status, (200, 202), body)

        async def recovered() -> bool:
            status, body = await self.client.get_json(
                url, access_token=pair.bob.access_token
            )
            return status == 200 and body["status"] == "succeeded"

        deadline = time.monotonic() + 30
        while not await recovered():
            self.assertLess(time.monotonic(), deadline, "the recovery never ended")
            await pause()

    # What Prometheus shows.
    async def assert_what_prometheus_saw(self, prometheus: PrometheusServer) -> None:
        async def value(expr: str) -> float:
            return await prometheus.value(self.client, expr)

        p = "synapse_msc_extensions_"
        window = f"[{RATE_INTERVAL}]"
        # The stalled room, its failed resyncs, then full state.
        self.assertEqual(
            await value(f"max_over_time({p}partial_state_rooms{window})"), 1
        )
        self.assertEqual(await value(f"{p}partial_state_rooms"), 0)
        self.assertGreater(
            await value(
                f"max_over_time({p}partial_state_oldest_room_age_seconds{window})"
            ),
            0,
        )
        self.assertEqual(await value(f"{p}partial_state_oldest_room_age_seconds"), 0)
        self.assertGreaterEqual(
            await value(f"{p}partial_state_resync_failures_total"), 1
        )
        self.assertEqual(await value(f"{p}partial_state_resync_successes_total"), 1)
        self.assertEqual(
            await value(f"{p}partial_state_seconds_to_full_state_count"), 1
        )
        # Refusals (one per round), by the servlet Synapse's HTTP metrics name.
        for servlet in ("StateServlet", "StateIdsServlet"):
            self.assertEqual(
                await value(f'{p}partial_state_refusals_total{{servlet="{servlet}"}}'),
                2,
            )
        # batch_state: per round, one batch of three items reached the handler
        # (one item failed) and one bad request did not.
        self.assertEqual(await value(f"{p}batch_state_items_count"), 2)
        self.assertEqual(await value(f"{p}batch_state_items_sum"), 6)
        self.assertEqual(
            await value(f'{p}batch_state_item_results_total{{result="sent"}}'), 4
        )
        self.assertEqual(
            await value(f'{p}batch_state_item_results_total{{result="failed"}}'), 2
        )
        self.assertEqual(
            await value(
                "sum(synapse_http_server_response_time_seconds_count"
                '{servlet="BatchStateServlet",code="400"})'
            ),
            2,
        )
        # A failed recovery per round, one that succeeded at the end.
        for outcome, count in (("failed", 2), ("succeeded", 1)):
            self.assertEqual(
                await value(f'{p}room_recoveries_total{{outcome="{outcome}"}}'), count
            )

    async def assert_rules_loaded(self, prometheus: PrometheusServer) -> None:
        shipped = {
            rule["alert"]
            for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]
        }
        deadline = time.monotonic() + 30
        while True:
            data = await prometheus.api(self.client, "rules")
            rules = {
                rule["name"]: rule
                for group in data["groups"]
                for rule in group["rules"]
            }
            evaluated = {
                name
                for name, rule in rules.items()
                if rule["health"] == "ok"
                and not rule["lastEvaluation"].startswith("0001-")
            }
            if shipped <= evaluated:
                break
            self.assertEqual(set(rules), shipped)
            self.assertFalse(
                [rule["lastError"] for rule in rules.values() if rule.get("lastError")]
            )
            self.assertLess(time.monotonic(), deadline, f"not evaluated: {rules}")
            await pause()
        # A real failed recovery fires the one alert without a `for`.
        alerts = (await prometheus.api(self.client, "alerts"))["alerts"]
        self.assertIn(
            ("MscExtensionsRoomRecoveryFailed", "firing"),
            {(a["labels"]["alertname"], a["state"]) for a in alerts},
            rules["MscExtensionsRoomRecoveryFailed"],
        )

    async def assert_every_panel_has_data(
        self, prometheus: PrometheusServer, instance: str
    ) -> None:
        dashboard = json.loads(DASHBOARD.read_text())
        queries = dashboard_queries(dashboard)
        self.assertGreaterEqual(len(queries), 20)
        self.maxDiff = None
        empty = []
        for title, expr in queries:
            result = await prometheus.query(
                self.client, expand(expr, promql_regex(instance))
            )
            values = [float(series["value"][1]) for series in result]
            if not any(math.isfinite(v) for v in values):
                empty.append(f"{title}: {expr} -> {values}")
        self.assertEqual(empty, [])
        # The variables' own queries find the job and the instance.
        for variable in dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["definition"])
            assert match, variable["definition"]
            selector, label = match.groups()
            result = await prometheus.query(self.client, expand(selector, ".*"))
            found = {series["metric"].get(label) for series in result}
            self.assertIn({"job": JOB, "instance": instance}[label], found)
