"""A throwaway Prometheus server for end-to-end tests, one per test that asks.

:func:`start_prometheus` writes a ``prometheus.yml`` into a temporary directory
(scraping the given targets every second, evaluating the given rule files every
second, the TSDB in the same directory), starts Debian's ``prometheus`` on a free
loopback port, waits until it is ready and stops it when the test cleans up.
Raises ``SkipTest`` when ``prometheus`` or ``promtool`` is not installed
(Debian: ``apt-get install prometheus``; ``scripts-dev/test`` installs it when it
runs as root).
"""

import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from twisted.trial.unittest import SkipTest, TestCase

from tests.e2e.client import JsonClient
from tests.e2e.config import LOOPBACK, free_port
from tests.e2e.process import ServerProcess, pause

READY_TIMEOUT = 30.0
#: The job name the targets are scraped under (the ``job`` label).
JOB = "synapse"
SCRAPE_INTERVAL = "1s"


def executable(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; ``SkipTest`` when missing."""
    path = shutil.which(name)
    if path is None:
        raise SkipTest(f"{name} is not installed (Debian: apt-get install prometheus)")
    return path


def promtool(*args: str, cwd: Path | None = None) -> str:
    """Runs ``promtool`` with ``args``; its output, or AssertionError with it."""
    result = subprocess.run(
        [executable("promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"promtool {' '.join(args)} failed:\n{output}")
    return output


class PrometheusServer:
    def __init__(
        self,
        binary: str,
        targets: Sequence[str],
        metrics_path: str,
        rule_files: Sequence[Path],
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="msc-extensions-e2e-prom-"))
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        config = {
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": SCRAPE_INTERVAL,
                "evaluation_interval": SCRAPE_INTERVAL,
            },
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "metrics_path": metrics_path,
                    "static_configs": [{"targets": list(targets)}],
                }
            ],
        }
        config_path = self.directory / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        promtool("check", "config", str(config_path))
        self.process = ServerProcess(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--log.level=warn",
            ],
            cwd=self.directory,
            log_path=self.directory / "prometheus.log",
        )

    async def wait_until_ready(self, client: JsonClient) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                status, _ = await client.request("GET", self.url + "/-/ready")
                if status == 200:
                    return
            except Exception:
                pass
            code = self.process.exit_code()
            if code is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prometheus did not become ready (exit code {code}):\n"
                    + self.process.log_tail()
                )
            await pause()

    async def api(self, client: JsonClient, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>``: its ``data``, or AssertionError with the error
        Prometheus gave (a query that does not parse, say)."""
        query = f"?{urlencode(params)}" if params else ""
        status, body = await client.get_json(f"{self.url}/api/v1/{path}{query}")
        if (
            status != 200
            or not isinstance(body, dict)
            or body.get("status") != "success"
        ):
            raise AssertionError(f"GET /api/v1/{path}{query}: {status} {body}")
        return body["data"]

    async def query(self, client: JsonClient, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now."""
        data = await self.api(client, "query", query=expr)
        if data["resultType"] != "vector":
            raise AssertionError(f"{expr}: a {data['resultType']}, not a vector")
        result: list[dict[str, Any]] = data["result"]
        return result

    async def value(self, client: JsonClient, expr: str) -> float:
        """The one value ``expr`` evaluates to now; NaN when it has none."""
        result = await self.query(client, expr)
        if not result:
            return math.nan
        if len(result) > 1:
            raise AssertionError(f"{expr}: {len(result)} series, expected one")
        return float(result[0]["value"][1])

    async def wait_for_scrapes_after(
        self, client: JsonClient, moment: float, seconds: float = 3
    ) -> None:
        """Until every target has been scraped successfully ``seconds`` after
        ``moment`` (a ``time.time()``), so that rates see what happened before it."""
        expr = f'min(timestamp(up{{job="{JOB}"}} == 1))'
        deadline = time.monotonic() + READY_TIMEOUT
        while not await self.value(client, expr) >= moment + seconds:
            if time.monotonic() > deadline:
                targets = await self.api(client, "targets")
                raise AssertionError(
                    f"prometheus did not scrape in time: {targets}\n"
                    + self.process.log_tail()
                )
            await pause()

    def stop(self) -> None:
        self.process.stop_now()
        shutil.rmtree(self.directory, ignore_errors=True)


async def start_prometheus(
    test: TestCase,
    client: JsonClient,
    targets: Sequence[str],
    *,
    metrics_path: str = "/_synapse/metrics",
    rule_files: Sequence[Path] = (),
) -> PrometheusServer:
    """A ready Prometheus scraping ``targets`` (``host:port``), stopped when
    ``test`` cleans up; ``SkipTest`` when it is not installed."""
    binary = executable("prometheus")
    executable("promtool")
    server = PrometheusServer(binary, targets, metrics_path, rule_files)
    test.addCleanup(server.stop)
    await server.wait_until_ready(client)
    return server
