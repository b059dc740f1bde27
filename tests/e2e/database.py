"""Reading a real homeserver's database from the test process, on SQLite or
PostgreSQL alike.

The queries are written with ``?`` placeholders, as for SQLite; on PostgreSQL they
become psycopg2's ``%s``. Each call opens its own connection and closes it, so the
test never holds a lock that Synapse waits for.

- :func:`query`: the rows of one ``SELECT``;
- :func:`schema_objects`: the names of the tables and indexes in the database,
  from ``sqlite_master`` or from ``information_schema.tables`` and ``pg_indexes``.
"""

import importlib
import sqlite3
from typing import Any

from tests.e2e.homeserver import Homeserver


def query(hs: Homeserver, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """The rows ``sql`` selects from ``hs``'s database."""
    database = hs.config["database"]
    if database["name"] == "sqlite3":
        connection = sqlite3.connect(database["args"]["database"], timeout=10)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()
    # Imported only where PostgreSQL runs (tests.e2e.postgres skips without it);
    # it has no type stubs.
    psycopg2: Any = importlib.import_module("psycopg2")
    db_args = database["args"]
    pg = psycopg2.connect(
        user=db_args["user"],
        password=db_args["password"],
        dbname=db_args["database"],
        host=db_args["host"],
        port=db_args["port"],
    )
    try:
        with pg.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), args)
            return list(cursor.fetchall())
    finally:
        pg.close()


def schema_objects(hs: Homeserver) -> dict[str, set[str]]:
    """The tables and indexes of ``hs``'s database:
    ``{"table": {...}, "index": {...}}``."""
    if hs.config["database"]["name"] == "sqlite3":
        rows = query(
            hs,
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')",
        )
    else:
        rows = [
            ("table", name)
            for (name,) in query(
                hs,
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()",
            )
        ] + [
            ("index", name)
            for (name,) in query(
                hs,
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()",
            )
        ]
    objects: dict[str, set[str]] = {"table": set(), "index": set()}
    for kind, name in rows:
        objects[kind].add(name)
    return objects
