#!/usr/bin/env python3
"""Run a command against a throwaway PostgreSQL cluster on loopback.

    scripts-dev/with_postgres.py COMMAND [ARGS...]

Starts the end-to-end tests' cluster (``tests.e2e.postgres``: C collation, a free
127.0.0.1 port, removed afterwards), lets its ``synapse`` role create databases, and
runs COMMAND with the variables Synapse's test harness reads (``SYNAPSE_POSTGRES=1``,
``SYNAPSE_POSTGRES_HOST/PORT/USER/PASSWORD``). Exits with COMMAND's status, or 3
with the reason when no cluster can be started here (no PostgreSQL server or no
psycopg2 installed).
"""

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.trial.unittest import SkipTest  # noqa: E402

from tests.e2e.config import LOOPBACK  # noqa: E402
from tests.e2e.postgres import HARNESS_USER, postgres_cluster  # noqa: E402


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        cluster = postgres_cluster()
    except SkipTest as e:
        print(f"No PostgreSQL cluster: {e}", file=sys.stderr)
        return 3
    cluster.sql(f"ALTER ROLE {HARNESS_USER} CREATEDB")
    env = {
        **os.environ,
        "SYNAPSE_POSTGRES": "1",
        "SYNAPSE_POSTGRES_HOST": LOOPBACK,
        "SYNAPSE_POSTGRES_PORT": str(cluster.port),
        "SYNAPSE_POSTGRES_USER": HARNESS_USER,
        "SYNAPSE_POSTGRES_PASSWORD": cluster.password,
    }
    return subprocess.run(sys.argv[1:], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
