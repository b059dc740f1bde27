"""The ports a mode listens on, checked before anything is written.

A port is busy when binding 127.0.0.1 to it fails, as Synapse's own bind would. The
process holding it is found on Linux through ``/proc`` (the listening socket's inode,
then the process with that socket open); elsewhere, or for another user's process,
the message says only that the port is taken.
"""

import errno
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.config import LOOPBACK

_LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp


class DemoError(Exception):
    """Something the user must fix; the message says what and how."""


@dataclass(frozen=True)
class Port:
    number: int
    #: What listens there, e.g. "B's client listener".
    purpose: str


def is_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As Twisted's listeners do, so a port in TIME_WAIT does not count as busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == _LISTEN:
                inodes.add(fields[9])
    return inodes


def _pids() -> Iterator[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    yield from (int(name) for name in names if name.isdigit())


def _holds(pid: int, sockets: set[str]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in sockets:
                return True
        except OSError:
            continue
    return False


def _command_line(pid: int, limit: int = 160) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    text = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def holder(port: int) -> str | None:
    """``pid N (command line)`` of a process listening on ``port``, if visible."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not sockets:
        return None
    for pid in _pids():
        if _holds(pid, sockets):
            return f"pid {pid} ({_command_line(pid)})"
    return None


def check_free(ports: Sequence[Port], how_to_move: str) -> None:
    """Raises :class:`DemoError` naming every busy port, who holds it, and
    ``how_to_move`` (the flag that picks other ports)."""
    busy = [port for port in ports if is_busy(port.number)]
    if not busy:
        return
    lines = []
    for port in busy:
        who = holder(port.number)
        held = f"held by {who}" if who else "held by a process this user cannot see"
        lines.append(f"Port {port.number} ({port.purpose}) is in use, {held}.")
    lines.append(how_to_move)
    raise DemoError("\n".join(lines))
