#!/usr/bin/env python3
"""Run a command against a throwaway PostgreSQL cluster on loopback.

    scripts-dev/with_postgres.py COMMAND [ARGS...]

Creates a cluster in a temporary directory (C collation, as Synapse requires), starts
it on a free 127.0.0.1 port, creates a ``synapse`` role, runs COMMAND with the
variables Synapse's test harness reads (``SYNAPSE_POSTGRES=1``,
``SYNAPSE_POSTGRES_HOST/PORT/USER/PASSWORD``), then stops and deletes the cluster and
exits with COMMAND's status. ``initdb`` refuses to run as root, so as root the server
runs as the ``postgres`` OS user. Exits 3 with a message if no PostgreSQL server is
installed (Debian: ``apt-get install postgresql``).
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PASSWORD = "synapse"


def server_bin_dir() -> Path | None:
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    bindir = server_bin_dir()
    if bindir is None:
        print("No PostgreSQL server found (initdb, pg_ctl).", file=sys.stderr)
        return 3
    workdir = Path(tempfile.mkdtemp(prefix="msc-ext-pg-"))
    data, sockets = workdir / "data", workdir / "sockets"
    sockets.mkdir()
    password_file = workdir / "password"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(sockets, "postgres")
        shutil.chown(password_file, "postgres")
    port = free_port()
    ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-w"]
    try:
        subprocess.run(
            as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--locale=C",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} "
            f"-c unix_socket_directories={sockets} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            as_server_user([*ctl, "-o", options, "-l", str(workdir / "log"), "start"]),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                "psql",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-c",
                f"CREATE ROLE synapse LOGIN SUPERUSER PASSWORD '{PASSWORD}'",
            ],
            check=True,
        )
        env = {
            **os.environ,
            "SYNAPSE_POSTGRES": "1",
            "SYNAPSE_POSTGRES_HOST": "127.0.0.1",
            "SYNAPSE_POSTGRES_PORT": str(port),
            "SYNAPSE_POSTGRES_USER": "synapse",
            "SYNAPSE_POSTGRES_PASSWORD": PASSWORD,
        }
        return subprocess.run(sys.argv[1:], env=env).returncode
    finally:
        subprocess.run(
            as_server_user([*ctl, "-m", "fast", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
