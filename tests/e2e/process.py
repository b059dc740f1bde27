"""One server process (Synapse, or a service it needs): started with its output in a log file, stopped by its PID.

Stopping sends SIGTERM, then SIGKILL if the process is still there after a grace
period. Every process still running when the interpreter exits is stopped then too,
so a test run that is interrupted between a start and its clean-up leaves nothing
behind.
"""

import atexit
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.task import deferLater

REPO_ROOT = Path(__file__).resolve().parents[2]

#: How often waits check their condition, in seconds.
POLL_INTERVAL = 0.05

_running: "set[ServerProcess]" = set()


async def pause() -> None:
    """Yield to the reactor for one poll interval."""
    await deferLater(reactor, POLL_INTERVAL)


class ServerProcess:
    """``command`` run from ``cwd`` with its output in ``log_path``, and the
    repository root on ``PYTHONPATH`` (so Synapse can import ``msc_extensions`` and
    ``tests``).

    With ``own_session``, the process runs in a session (and process group) of its
    own, so the SIGINT a terminal sends its foreground group on Ctrl-C does not reach
    it: the caller stops it, with SIGTERM only.
    """

    def __init__(
        self,
        command: Sequence[str],
        cwd: Path,
        log_path: Path,
        *,
        own_session: bool = False,
    ) -> None:
        self.log_path = log_path
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        with log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=own_session,
            )
        self.pid = self._popen.pid
        _running.add(self)

    @classmethod
    def synapse(
        cls,
        app: str,
        config_paths: Sequence[Path],
        cwd: Path,
        log_path: Path,
        *,
        own_session: bool = False,
    ) -> "ServerProcess":
        """``python -m <app> -c <config>...`` with this interpreter."""
        command = [sys.executable, "-m", app]
        for path in config_paths:
            command += ["-c", str(path)]
        return cls(command, cwd, log_path, own_session=own_session)

    def exit_code(self) -> int | None:
        """The exit code, or None while the process runs."""
        code = self._popen.poll()
        if code is not None:
            _running.discard(self)
        return code

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])

    async def wait_for_exit(self, timeout: float) -> int:
        """Waits until the process exits; raises TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (code := self.exit_code()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pid {self.pid} still running after {timeout} s")
            await pause()
        return code

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``grace`` seconds."""
        if self.exit_code() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            await self.wait_for_exit(grace)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            await self.wait_for_exit(grace)

    def stop_now(self, grace: float = 15.0) -> None:
        """Like :meth:`stop`, blocking; for when no reactor runs."""
        if self.exit_code() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self._popen.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self._popen.wait()
        _running.discard(self)

    def _signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_running):
        process.stop_now()
