"""``scripts-dev/demo`` run as a user runs it, for ``test_demo``.

The demo runs with this interpreter from the repository root (``scripts-dev/demo``
itself only makes sure a venv exists, then does the same), in a session of its own:
a test sends SIGINT to that process group as a terminal does on Ctrl-C. It gets
the default SIGINT disposition whatever the test runner's, since a runner started
in the background ignores SIGINT, which its children would inherit. Its output
(stdout and stderr) goes to a file the test reads.

The commands the demo prints are the lines that start with ``$ `` after their
indentation; :func:`run_shell` runs one as a user's shell would.
"""

import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from twisted.internet import utils

from tests.e2e.config import LOOPBACK
from tests.e2e.process import REPO_ROOT, pause

DEMO = REPO_ROOT / "scripts-dev" / "demo.py"
READY = "Press Ctrl-C to stop."
_COMMAND = re.compile(r"^\s+\$ (.+)$", re.MULTILINE)
_PID = re.compile(r"\(pid (\d+)\)")
# Below Linux's ephemeral range (32768 on), where port-0 binds of other tests land.
_PORTS_FROM, _PORTS_TO = 20000, 32000


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are free now."""
    for _ in range(200):
        first = random.randrange(_PORTS_FROM, _PORTS_TO - count)
        if all(_is_free(port) for port in range(first, first + count)):
            return first
    raise AssertionError(f"no {count} consecutive free ports found")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class DemoRun:
    """One run of the demo, with ``--port port --data data`` and ``args``."""

    def __init__(self, data: Path, port: int, args: Sequence[str] = ()) -> None:
        self.data = data
        self.port = port
        self._output = Path(tempfile.mkstemp(prefix="demo-output-")[1])
        with self._output.open("wb") as out:
            self._popen = subprocess.Popen(
                [sys.executable, str(DEMO), "--port", str(port), "--data", str(data)]
                + list(args),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
                preexec_fn=_default_sigint,
            )
        self.started = time.monotonic()

    def output(self) -> str:
        return self._output.read_text(errors="replace")

    def commands(self) -> list[str]:
        return _COMMAND.findall(self.output())

    def exit_code(self) -> int | None:
        return self._popen.poll()

    async def wait_until_ready(self, timeout: float) -> float:
        """Seconds from the start until the demo printed :data:`READY`."""
        deadline = self.started + timeout
        while READY not in self.output():
            if self.exit_code() is not None:
                raise AssertionError(
                    f"the demo exited with {self.exit_code()}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the demo not ready in {timeout} s:\n{self.output()}"
                )
            await pause()
        return time.monotonic() - self.started

    async def wait_for_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (code := self.exit_code()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the demo still runs after {timeout} s")
            await pause()
        return code

    def press_ctrl_c(self) -> None:
        os.killpg(self._popen.pid, signal.SIGINT)

    def kill(self) -> None:
        """Clean-up, whatever happened: SIGTERM (the demo stops its servers); if
        the demo does not exit, SIGKILL for it and for the servers it named."""
        if self.exit_code() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(30)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
                for pid in {int(pid) for pid in _PID.findall(self.output())}:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self._output.unlink(missing_ok=True)


def ports_free(first: int, count: int) -> bool:
    return all(_is_free(port) for port in range(first, first + count))


async def run_shell(command: str) -> tuple[int, str]:
    """``command`` in ``sh`` from the repository root: exit code, stdout+stderr."""
    out, err, code = await utils.getProcessOutputAndValue(
        "/bin/sh", ["-c", command], env=dict(os.environ), path=str(REPO_ROOT)
    )
    return code, (out + err).decode(errors="replace")
