"""A throwaway PostgreSQL cluster for end-to-end tests, one per test run.

:func:`postgres_cluster` starts it on first use: ``initdb`` into a temporary
directory, ``pg_ctl start`` on a free loopback port, stopped and removed when the
test process exits. Running as root, the server commands run as the ``postgres`` OS
user (``initdb`` refuses root). Each homeserver gets its own database from
:meth:`PostgresCluster.new_database`, which returns the ``database:`` section for
``homeserver.yaml``.

Raises ``SkipTest`` saying what is missing when there are no PostgreSQL server
binaries or no psycopg2 to connect with.
"""

import atexit
import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SkipTest

from tests.e2e.config import LOOPBACK, free_port

_SEARCHED = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15")]
#: The role that owns the databases (and, for the harness, creates them).
HARNESS_USER = "synapse"


def _server_bindir() -> Path | None:
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.append(Path(bindir))
    candidates += _SEARCHED
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


class PostgresCluster:
    def __init__(self, bindir: Path) -> None:
        self._bindir = bindir
        self._as_owner: list[str] = []
        self.directory = Path(tempfile.mkdtemp(prefix="msc-extensions-e2e-pg-"))
        if os.geteuid() == 0:
            self._as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.directory, "postgres")
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self._data = self.directory / "data"
        self._started = False
        self._databases = 0

    def _run(self, command: Sequence[str]) -> None:
        result = subprocess.run(
            [*self._as_owner, *command], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
            )

    def start(self) -> None:
        self._run(
            [
                str(self._bindir / "initdb"),
                "-D",
                str(self._data),
                "-U",
                "postgres",
                "--locale=C",
                "-E",
                "UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]
        )
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses={LOOPBACK} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            [
                str(self._bindir / "pg_ctl"),
                "-D",
                str(self._data),
                "-l",
                str(self.directory / "postgres.log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        )
        self._started = True
        self.sql(f"CREATE ROLE {HARNESS_USER} LOGIN PASSWORD '{self.password}'")

    def sql(self, statement: str) -> None:
        """Runs one statement as the superuser, over the Unix socket."""
        self._run(
            [
                str(self._bindir / "psql"),
                "-h",
                str(self.directory),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ]
        )

    def new_database(self) -> dict[str, Any]:
        """A new empty database; its ``database:`` section for Synapse."""
        self._databases += 1
        name = f"synapse_{self._databases}"
        self.sql(
            f"CREATE DATABASE {name} OWNER {HARNESS_USER} ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
        return {
            "name": "psycopg2",
            "args": {
                "user": HARNESS_USER,
                "password": self.password,
                "database": name,
                "host": LOOPBACK,
                "port": self.port,
                "cp_min": 1,
                "cp_max": 5,
            },
        }

    def stop(self) -> None:
        if self._started:
            self._started = False
            subprocess.run(
                [
                    *self._as_owner,
                    str(self._bindir / "pg_ctl"),
                    "-D",
                    str(self._data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.directory, ignore_errors=True)


_cluster: PostgresCluster | None = None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def postgres_cluster() -> PostgresCluster:
    """The run's cluster, started on first use; ``SkipTest`` if it cannot be."""
    global _cluster
    if _cluster is not None:
        return _cluster
    if importlib.util.find_spec("psycopg2") is None:
        raise SkipTest("psycopg2 is not installed (pip install psycopg2-binary)")
    bindir = _server_bindir()
    if bindir is None:
        raise SkipTest("no PostgreSQL server binaries (initdb, pg_ctl) found")
    if os.geteuid() == 0 and not _has_user("postgres"):
        raise SkipTest("running as root, and there is no postgres OS user to run it")
    cluster = PostgresCluster(bindir)
    atexit.register(cluster.stop)
    cluster.start()
    _cluster = cluster
    return cluster
