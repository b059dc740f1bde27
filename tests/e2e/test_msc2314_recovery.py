"""MSC2314's recovery between two real federating homeservers.

A and B share a room. B's database is restored to a backup taken before bob, B's
user, joined: stop B, restore, start B. B knows nothing of the room any more. B's
admin calls the recovery API with A; then bob's message reaches alice on A, and
alice's new messages reach bob on B. On SQLite, then with B on PostgreSQL.
"""

import os
import shutil
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from tests.e2e.homeserver import (
    E2ETestCase,
    Homeserver,
    start_homeserver,
)
from tests.e2e.postgres import PostgresCluster, postgres_cluster
from tests.e2e.rooms import (
    create_room,
    join_over_federation,
    joined_rooms,
    room_version,
    send_message,
    wait_for_message,
)

RECOVER = "/_synapse/admin/v1/msc_extensions/rooms/{room}/recover"


class Backup(Protocol):
    def take(self, hs: Homeserver) -> None: ...

    def restore(self, hs: Homeserver) -> None: ...


class SqliteBackup:
    """A copy of the database file (the server is stopped: no WAL in flight)."""

    def _files(self, hs: Homeserver) -> list[Path]:
        database = Path(hs.config["database"]["args"]["database"])
        return [database, *(Path(f"{database}{s}") for s in ("-wal", "-shm"))]

    def take(self, hs: Homeserver) -> None:
        for path in self._files(hs):
            if path.exists():
                shutil.copy2(path, f"{path}.backup")

    def restore(self, hs: Homeserver) -> None:
        for path in self._files(hs):
            if path.exists():
                os.remove(path)
            if Path(f"{path}.backup").exists():
                shutil.copy2(f"{path}.backup", path)


class PostgresBackup:
    """A copy of the database made with ``CREATE DATABASE ... TEMPLATE``."""

    def __init__(self, cluster: PostgresCluster) -> None:
        self._cluster = cluster

    def take(self, hs: Homeserver) -> None:
        name = hs.config["database"]["args"]["database"]
        self._cluster.sql(f"CREATE DATABASE {name}_backup TEMPLATE {name}")

    def restore(self, hs: Homeserver) -> None:
        name = hs.config["database"]["args"]["database"]
        self._cluster.sql(f"DROP DATABASE {name}")
        self._cluster.sql(
            f"CREATE DATABASE {name} OWNER synapse TEMPLATE {name}_backup"
        )


async def restart(hs: Homeserver, between: Any = None) -> None:
    await hs.process.stop()
    if between is not None:
        between(hs)
    hs.launch()
    await hs.wait_until_ready()


class _RecoveryScenario(E2ETestCase):
    async def run_scenario(
        self, backup: Backup, b_database: dict[str, Any] | None
    ) -> None:
        client = self.client
        a = await start_homeserver(self)
        b = await start_homeserver(self, database=b_database)
        alice = await a.register_user(client, "alice")
        bob = await b.register_user(client, "bob")
        admin = await b.register_user(client, "admin", admin=True)
        room_id = await create_room(client, a, alice.access_token)
        version = await room_version(client, a, room_id, alice.access_token)

        await restart(b, backup.take)
        await join_over_federation(client, b, a, room_id, bob.access_token)
        await send_message(client, b, bob, room_id, "bob before the loss")
        await wait_for_message(client, a, alice, room_id, "bob before the loss")

        await restart(b, backup.restore)
        self.assertEqual(await joined_rooms(client, b, bob), [])

        url = b.client_url + RECOVER.format(room=quote(room_id, safe=""))
        status, report = await client.post_json(
            url, {"servers": [a.server_name]}, access_token=admin.access_token
        )
        self.assertEqual(status, 200, report)
        self.assertEqual(report["room_version"], version)
        self.assertEqual(report["server"], a.server_name)
        self.assertEqual(report["users_restored"], [bob.user_id])
        self.assertEqual(await joined_rooms(client, b, bob), [room_id])
        # bob's membership is the one he had, display name included: no new event.
        member_path = (
            f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/"
            f"{quote(bob.user_id)}?format=event"
        )
        _, on_a = await client.get_json(
            a.client_url + member_path, access_token=alice.access_token
        )
        status, on_b = await client.get_json(
            b.client_url + member_path, access_token=bob.access_token
        )
        self.assertEqual(status, 200, on_b)
        self.assertEqual(on_b["event_id"], on_a["event_id"])
        self.assertEqual(on_b["content"]["displayname"], "bob")

        await send_message(client, b, bob, room_id, "bob is back")
        await wait_for_message(client, a, alice, room_id, "bob is back")
        await send_message(client, a, alice, room_id, "welcome back")
        await wait_for_message(client, b, bob, room_id, "welcome back")

        # A second call changes nothing.
        status, body = await client.post_json(
            url, {"servers": [a.server_name]}, access_token=admin.access_token
        )
        self.assertEqual(status, 409, body)


class SqliteRecoveryE2ETests(_RecoveryScenario):
    async def test_backup_restore_recovery(self) -> None:
        await self.run_scenario(SqliteBackup(), None)


class PostgresRecoveryE2ETests(_RecoveryScenario):
    async def test_backup_restore_recovery(self) -> None:
        cluster = postgres_cluster()
        await self.run_scenario(PostgresBackup(cluster), cluster.new_database())


del _RecoveryScenario
