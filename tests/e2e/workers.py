"""Synapse workers (``synapse.app.generic_worker``) next to a real main process.

Workers need a shared PostgreSQL database and Redis. Start the main process with
:func:`main_process_options`, then a worker with :func:`start_worker`::

    cluster = postgres_cluster()
    redis = await redis_server()
    main = await start_homeserver(
        self, database=cluster.new_database(), **main_process_options(redis.port)
    )
    worker = await start_worker(self, main)   # worker.client_url

The worker reads the main process's ``homeserver.yaml`` (so it loads the same
modules) plus its own file with ``worker_app``, ``worker_name`` and one plain-HTTP
listener on a free loopback port.
"""

from collections.abc import Sequence
from typing import Any

import yaml
from twisted.trial.unittest import TestCase

from tests.e2e.config import LOOPBACK, free_port, listener
from tests.e2e.homeserver import READY_TIMEOUT, Homeserver, wait_for_http
from tests.e2e.process import ServerProcess

WORKER_APP = "synapse.app.generic_worker"


def main_process_options(redis_port: int) -> dict[str, Any]:
    """``start_homeserver`` options for a main process that workers can join: a
    replication listener, ``instance_map`` and Redis."""
    replication_port = free_port()
    return {
        "extra_listeners": [listener(replication_port, ["replication"])],
        "overrides": {
            "instance_map": {"main": {"host": LOOPBACK, "port": replication_port}},
            "redis": {"enabled": True, "host": LOOPBACK, "port": redis_port},
        },
    }


class Worker:
    def __init__(self, main: Homeserver, name: str, resources: Sequence[str]) -> None:
        self.name = name
        self.port = free_port()
        self.client_url = f"http://{LOOPBACK}:{self.port}"
        self.directory = main.directory / name
        self.directory.mkdir()
        config = {
            "worker_app": WORKER_APP,
            "worker_name": name,
            "worker_listeners": [listener(self.port, resources)],
            "worker_log_config": main.config["log_config"],
        }
        config_path = self.directory / "worker.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.process = ServerProcess.synapse(
            WORKER_APP,
            [main.config_path, config_path],
            cwd=self.directory,
            log_path=self.directory / "worker.log",
        )

    async def stop(self) -> None:
        await self.process.stop()


async def start_worker(
    test: TestCase,
    main: Homeserver,
    *,
    name: str = "worker1",
    resources: Sequence[str] = ("client",),
    timeout: float = READY_TIMEOUT,
) -> Worker:
    """A ready worker of ``main``, stopped when ``test`` cleans up (before ``main``,
    which was started earlier)."""
    worker = Worker(main, name, resources)
    test.addCleanup(worker.stop)
    await wait_for_http(worker.process, [worker.client_url + "/health"], timeout)
    return worker


__all__ = ["Worker", "main_process_options", "start_worker"]
