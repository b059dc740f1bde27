"""Synapse processes for the demo.

Each runs in a session of its own (so Ctrl-C in the terminal reaches the demo only,
which then stops it with SIGTERM: one signal, a clean shutdown), from its directory,
with its output appended to ``homeserver.log``. When a start fails, the lines of the
log written by this start that say why are shown.
"""

import re
import time
from collections.abc import Awaitable, Callable, Sequence

from demo_lib.files import ServerFiles
from demo_lib.ports import DemoError
from tests.e2e.client import JsonClient
from tests.e2e.process import ServerProcess, pause

HOMESERVER_APP = "synapse.app.homeserver"
READY_TIMEOUT_S = 90.0

#: A log line that starts an explanation.
_WHY = re.compile(
    r"\b(ERROR|CRITICAL)\b|Error in configuration|Traceback|Exception|[Ee]rror:"
)


def why_lines(log_text: str, limit: int = 25) -> list[str]:
    """The lines that say why a start failed: from the first error on (the last
    ``limit`` of them), or the last lines when none looks like an error."""
    lines = log_text.splitlines()
    first = next((i for i, line in enumerate(lines) if _WHY.search(line)), None)
    if first is None:
        return lines[-15:]
    return lines[first:][-limit:]


class DemoServer:
    """One homeserver: ``name`` is how the output calls it ("A", "the homeserver")."""

    def __init__(
        self, name: str, files: ServerFiles, client_url: str, ready_urls: Sequence[str]
    ) -> None:
        self.name = name
        self.files = files
        self.client_url = client_url
        self._ready_urls = list(ready_urls)
        self._process: ServerProcess | None = None
        self._log_start = 0

    @property
    def title(self) -> str:
        """The name at the start of a sentence."""
        return self.name[:1].upper() + self.name[1:]

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def launch(self) -> None:
        self._log_start = (
            self.files.log.stat().st_size if self.files.log.exists() else 0
        )
        self._process = ServerProcess.synapse(
            HOMESERVER_APP,
            self.files.config_paths,
            cwd=self.files.directory,
            log_path=self.files.log,
            own_session=True,
        )

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.exit_code()

    def log_since_start(self) -> str:
        with self.files.log.open(errors="replace") as log:
            log.seek(self._log_start)
            return log.read()

    def failure(self, what: str) -> DemoError:
        """``what`` happened; the error ends with the log lines that say why."""
        why = "\n".join("    " + line for line in why_lines(self.log_since_start()))
        return DemoError(f"{what}. From {self.files.log}:\n{why}")

    async def wait_until_ready(self, client: JsonClient) -> None:
        """Until every ready URL answers 200; :class:`DemoError` if the process
        exits first or does not get there in time."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        for url in self._ready_urls:
            while True:
                code = self.exit_code()
                if code is not None:
                    raise self.failure(
                        f"{self.title} exited during start-up (exit code {code})"
                    )
                try:
                    status, _ = await client.get_json(url)
                    if status == 200:
                        break
                except Exception:  # refused or reset: not listening yet
                    pass
                if time.monotonic() > deadline:
                    raise self.failure(
                        f"{self.title} did not answer {url} within {READY_TIMEOUT_S} s"
                    )
                await pause()

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop()


async def first_exit(servers: Sequence[DemoServer]) -> DemoServer:
    """Waits until one of ``servers`` exits, and returns it."""
    while True:
        for server in servers:
            if server.exit_code() is not None:
                return server
        await pause()


class Launched:
    """Everything the demo started, stopped in reverse order on the way out."""

    def __init__(self) -> None:
        self.servers: list[DemoServer] = []
        self._cleanups: list[Callable[[], Awaitable[None]]] = []
        self.stopping = False

    def add_server(self, server: DemoServer) -> None:
        self.servers.append(server)
        self._cleanups.append(server.stop)

    def add_cleanup(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        self._cleanups.append(cleanup)

    async def stop_all(self) -> None:
        """Stops everything once; later calls find nothing left to stop."""
        self.stopping = True
        while self._cleanups:
            await self._cleanups.pop()()
