"""A throwaway PostgreSQL cluster for ``python -m benchmarks --postgres``.

``initdb`` into a temporary directory, ``pg_ctl start`` listening only on a Unix
socket in that directory, one database for Synapse (``C`` collation, as Synapse
requires), and everything removed on exit. PostgreSQL refuses to run as root, so
when run as root the cluster belongs to the ``postgres`` user (``runuser``).
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

PORT = 5432
DATABASE = "synapse"


def _as_cluster_owner(owner: str | None, argv: Sequence[str]) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else list(argv)


@asynccontextmanager
async def throwaway_cluster() -> AsyncIterator[dict[str, Any]]:
    """Yields the ``database:`` mapping for Synapse's homeserver.yaml."""
    for tool in ("initdb", "pg_ctl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"--postgres needs {tool} on PATH")
    owner = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="msc-extensions-bench-pg-"))
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    data = directory / "data"
    user = owner or pwd.getpwuid(os.geteuid()).pw_name

    def run(*argv: str) -> None:
        subprocess.run(
            _as_cluster_owner(owner, argv),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    try:
        run("initdb", "-D", str(data), "-U", user, "--encoding=UTF8", "--locale=C")
        run(
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(directory / "postgres.log"),
            "-w",
            "-o",
            f"-c listen_addresses='' -k {directory} -p {PORT} -c fsync=off",
            "start",
        )
        try:
            run(
                "createdb",
                "-h",
                str(directory),
                "-p",
                str(PORT),
                "-U",
                user,
                "-E",
                "UTF8",
                "--lc-collate=C",
                "--lc-ctype=C",
                "--template=template0",
                DATABASE,
            )
            yield {
                "name": "psycopg2",
                "args": {
                    "user": user,
                    "host": str(directory),
                    "port": PORT,
                    "database": DATABASE,
                    "cp_min": 1,
                    "cp_max": 10,
                },
            }
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
