"""A throwaway Redis server for end-to-end tests with workers, one per test run.

Synapse's workers replicate through Redis. :func:`redis_server` starts
``redis-server`` on a free loopback port without persistence on first use and stops
it when the test process exits. Raises ``SkipTest`` when ``redis-server`` or the
``txredisapi`` library Synapse uses for it is missing.
"""

import atexit
import importlib.util
import shutil
import socket
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import SkipTest

from tests.e2e.config import LOOPBACK, free_port
from tests.e2e.process import ServerProcess, pause

READY_TIMEOUT = 30.0


class RedisServer:
    def __init__(self, executable: str) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="msc-extensions-e2e-redis-"))
        self.port = free_port()
        self.process = ServerProcess(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                LOOPBACK,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.directory,
            log_path=self.directory / "redis.log",
        )

    def answers_ping(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    async def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.answers_ping():
            code = self.process.exit_code()
            if code is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not answer (exit code {code}):\n"
                    + self.process.log_tail()
                )
            await pause()

    def stop(self) -> None:
        self.process.stop_now()
        shutil.rmtree(self.directory, ignore_errors=True)


_server: RedisServer | None = None


async def redis_server() -> RedisServer:
    """The run's Redis server, started on first use; ``SkipTest`` if it cannot be."""
    global _server
    if _server is not None:
        return _server
    if importlib.util.find_spec("txredisapi") is None:
        raise SkipTest(
            "txredisapi is not installed (pip install matrix-synapse[redis])"
        )
    executable = shutil.which("redis-server")
    if executable is None:
        raise SkipTest("redis-server is not installed")
    server = RedisServer(executable)
    atexit.register(server.stop)
    await server.wait_until_ready()
    _server = server
    return server
