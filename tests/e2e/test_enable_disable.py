"""Switching the module on, off and on again on a homeserver that already has data.

B is the server under test; A is the resident server of a room B joins with partial
state, behind the fault proxy that holds back A's state answers
(:mod:`tests.e2e.partial_state_scenario`). On SQLite, then with B on PostgreSQL:

1. B runs without the module: users, a room of B's own with messages (A's user
   joined too), and a partial-state room of A's;
2. B restarts with every feature on, and each is used: batch_state (and a replay
   of its transaction), make_pdu/send_pdu, MSC2314's ``/state`` without
   ``event_id`` asked by A, MSC3895's answer for the partial-state room, MSC3902's
   admin list of it. The module's only new schema objects are named
   ``msc_extensions_*``;
3. B restarts without the module: it starts, every user, room, message and state
   event is there, the partial-state room is still partial-state and Synapse
   answers for it as stock Synapse does, and the module's table and rows are kept;
4. B restarts with the module again: the replays of step 2's transactions get step
   2's answers from the table and change nothing (a state event set in step 3 stays),
   every feature answers, and the partial-state room reaches full state once A
   serves state again.

Each step's failures name the step.
"""

import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from msc_extensions.registry import FEATURES
from tests.e2e.database import query, schema_objects
from tests.e2e.homeserver import E2ETestCase, RegisteredUser
from tests.e2e.partial_state_scenario import (
    ADMIN_ROOMS,
    PartialStatePair,
    b_admin_rooms,
    start_partial_state_pair,
    wait_for_failed_retries,
    wait_until,
)
from tests.e2e.postgres import postgres_cluster
from tests.e2e.rooms import create_room, join_over_federation, send_message

#: Every registered feature, switched on explicitly, with its defaults: MSC3902's
#: loop retries a minute after a failure, so within a step only Synapse's own
#: start-up resync and the admin's resync ask A for state.
EVERY_FEATURE: dict[str, Any] = {spec.name: {"enabled": True} for spec in FEATURES}
#: B finishes Synapse's background updates (index builds and the like) at once, so
#: that its schema is settled before it is compared with the module's.
B_OVERRIDES: dict[str, Any] = {"background_updates": {"sleep_enabled": False}}
MODULE_PREFIX = "msc_extensions_"
TRANSACTIONS_TABLE = "msc_extensions_transactions"

STATUS = "/_synapse/admin/v1/msc_extensions/status"
BATCH = "/_matrix/client/unstable/org.matrix.msc3192/rooms/{room}/batch_state/{txn}"
MSC4046 = "/_matrix/client/unstable/org.matrix.msc4046/room/{room}"
FEDERATION = "/_matrix/federation/v1"
CYCLE_STATE = "/_matrix/client/v3/rooms/{room}/state/org.example.cycle/a"
PARTIAL_STATE_ERRCODE = "ORG.MATRIX.MSC3895_UNABLE_DUE_TO_PARTIAL_STATE"

BATCH_ITEMS = [
    {"event_type": "org.example.cycle", "state_key": "a", "content": {"n": 1}},
    {"event_type": "m.room.topic", "content": {"topic": "set in a batch"}},
]
MESSAGES_BEFORE = ["bob, before the module", "carol, before the module"]
PARTIAL_ROOM_MESSAGE = "bob, in the partial-state room"
PDU_MESSAGE = "built by the client"
#: What bob sets ``org.example.cycle``/``a`` to while the module is off: a replay
#: of the batch that ran again would set it back.
SET_WHILE_OFF = {"n": "set while the module was off"}


@dataclass
class World:
    """What step 1 creates and later steps read back."""

    pair: PartialStatePair
    carol: RegisteredUser
    b_room: str
    partial_join_event: str
    #: bob's message in the partial-state room.
    partial_message: str = ""
    stock_objects: dict[str, set[str]] = field(default_factory=dict)
    module_objects: set[str] = field(default_factory=set)
    batch_ids: list[str] = field(default_factory=list)
    pdu: dict[str, Any] = field(default_factory=dict)
    transaction_rows: int = 0


class _EnableDisableScenario(E2ETestCase):
    #: Five homeserver starts in one test, on a machine that may be busy.
    timeout = 300

    async def run_scenario(self, b_database: dict[str, Any] | None) -> None:
        world = await self.step(
            "step 1 (without the module)", self.without_the_module(b_database)
        )
        await self.step(
            "step 2 (restarted with every feature)",
            self.with_every_feature(world),
        )
        await self.step(
            "step 3 (restarted without the module)",
            self.module_removed(world),
        )
        await self.step(
            "step 4 (restarted with the module again)",
            self.module_back(world),
        )

    async def step(self, name: str, run: Awaitable[Any]) -> Any:
        """``run``'s result; any failure, named after the step."""
        try:
            return await run
        except Exception as e:
            raise self.failureException(f"{name}: {e!r}") from e

    # Step 1 -----------------------------------------------------------------

    async def without_the_module(self, b_database: dict[str, Any] | None) -> World:
        pair = await start_partial_state_pair(
            self,
            self.client,
            b_module_config=None,
            members=2,
            b_options={
                "load_module": False,
                "database": b_database,
                "overrides": B_OVERRIDES,
            },
        )
        a, b, bob = pair.a, pair.b, pair.bob
        carol = await b.register_user(self.client, "carol")
        b_room = await create_room(self.client, b, bob.access_token)
        await join_over_federation(self.client, b, b, b_room, carol.access_token)
        await join_over_federation(self.client, a, b, b_room, pair.owner.access_token)
        await send_message(self.client, b, bob, b_room, MESSAGES_BEFORE[0])
        await send_message(self.client, b, carol, b_room, MESSAGES_BEFORE[1])
        ((join_event,),) = query(
            b,
            "SELECT join_event_id FROM partial_state_rooms WHERE room_id = ?",
            (pair.room_id,),
        )
        world = World(pair, carol, b_room, join_event)
        status, body = await self.client.put_json(
            b.client_url
            + f"/_matrix/client/v3/rooms/{quote(pair.room_id)}/send/m.room.message/p1",
            {"msgtype": "m.text", "body": PARTIAL_ROOM_MESSAGE},
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, body)
        world.partial_message = body["event_id"]
        await wait_until(
            lambda: not query(b, "SELECT 1 FROM background_updates"),
            60,
            "Synapse's background updates are done",
        )
        world.stock_objects = schema_objects(b)
        self.assertEqual(self.module_objects(world.stock_objects), set())
        return world

    # Step 2 -----------------------------------------------------------------

    async def with_every_feature(self, world: World) -> None:
        pair, bob = world.pair, world.pair.bob
        await pair.b.restart(load_module=True, module_config=EVERY_FEATURE)
        await self.assert_every_feature_is_built(world)

        # MSC3902 lists the room, with Synapse's start-up resync, which A refused.
        entry = await wait_for_failed_retries(pair, self.client, 1, 30)
        self.assertEqual(entry["joined_via"], pair.a.server_name)
        self.assertIn("502", entry["last_error"])

        status, ids = await self.batch(world, "cycle")
        self.assertEqual(status, 200, ids)
        self.assertEqual(len(ids), 2)
        self.assertTrue(all(ids), ids)
        world.batch_ids = ids
        self.assertEqual(await self.batch(world, "cycle"), (200, ids))

        room = quote(world.b_room)
        status, template = await self.client.get_json(
            pair.b.client_url + MSC4046.format(room=room) + "/make_pdu/m.room.message",
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, template)
        world.pdu = {
            **template["pdu"],
            "content": {"msgtype": "m.text", "body": PDU_MESSAGE},
        }
        self.assertEqual(await self.send_pdu(world), (200, {}))
        self.assertEqual(await self.message_count(world, PDU_MESSAGE), 1)
        # carol's transaction, for her logout in step 3.
        status, template = await self.client.get_json(
            pair.b.client_url + MSC4046.format(room=room) + "/make_pdu/m.room.message",
            access_token=world.carol.access_token,
        )
        self.assertEqual(status, 200, template)
        carols = {**template["pdu"], "content": {"msgtype": "m.text", "body": "c"}}
        status, body = await self.client.put_json(
            pair.b.client_url + MSC4046.format(room=room) + "/send_pdu/carol",
            carols,
            access_token=world.carol.access_token,
        )
        self.assertEqual((status, body), (200, {}))

        status, body = await self.current_state_asked_by_a(world)
        self.assertEqual(status, 200, body)
        self.assertEqual(cycle_state(body), {"n": 1})

        status, body = await self.partial_join_asked_by_a(world)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["pdus"][0]["sender"], bob.user_id)

        rooms = await b_admin_rooms(pair, self.client)
        self.assertEqual([r["room_id"] for r in rooms], [pair.room_id])

        # The module added schema objects named msc_extensions_*, and nothing else.
        objects = schema_objects(pair.b)
        added = {
            name
            for kind in objects
            for name in objects[kind] - world.stock_objects[kind]
        }
        self.assertIn(TRANSACTIONS_TABLE, objects["table"])
        self.assertEqual(
            {name for name in added if not name.startswith(MODULE_PREFIX)}, set()
        )
        world.module_objects = self.module_objects(objects)
        world.transaction_rows = self.transaction_rows(world)
        self.assertGreaterEqual(world.transaction_rows, 3)

    # Step 3 -----------------------------------------------------------------

    async def module_removed(self, world: World) -> None:
        pair, bob = world.pair, world.pair.bob
        refused = len(pair.proxy.refused)
        await pair.b.restart(load_module=False)

        # The module is gone: no status, no unstable flag.
        status, body = await self.client.get_json(
            pair.b.client_url + STATUS, access_token=bob.access_token
        )
        self.assertEqual(status, 404, body)
        status, body = await self.client.get_json(
            pair.b.client_url + "/_matrix/client/versions"
        )
        self.assertNotIn("org.matrix.msc3192", body["unstable_features"])

        # Users, rooms, messages and state are all there.
        for user in (bob, world.carol):
            status, body = await self.client.get_json(
                pair.b.client_url + "/_matrix/client/v3/account/whoami",
                access_token=user.access_token,
            )
            self.assertEqual((status, body.get("user_id")), (200, user.user_id), body)
        status, body = await self.client.get_json(
            pair.b.client_url + "/_matrix/client/v3/joined_rooms",
            access_token=bob.access_token,
        )
        self.assertEqual(set(body["joined_rooms"]), {world.b_room, pair.room_id})
        for text in [*MESSAGES_BEFORE, PDU_MESSAGE]:
            self.assertEqual(await self.message_count(world, text), 1, text)
        # (Synapse's /messages waits for full state in a partial-state room.)
        status, body = await self.client.get_json(
            pair.b.client_url
            + f"/_matrix/client/v3/rooms/{quote(pair.room_id)}/event/"
            + quote(world.partial_message),
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body["content"]["body"], PARTIAL_ROOM_MESSAGE)
        self.assertEqual(await self.cycle_state_on_b(world), (200, {"n": 1}))
        status, body = await self.client.put_json(
            pair.b.client_url + CYCLE_STATE.format(room=quote(world.b_room)),
            SET_WHILE_OFF,
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, body)

        # The partial-state room is Synapse's again. At start-up Synapse resumes its
        # resync, which A's proxy still refuses; the room stays partial-state, and
        # B's federation answers for it are stock Synapse's.
        await wait_until(
            lambda: len(pair.proxy.refused) > refused,
            30,
            "Synapse's start-up resync asks A for state",
        )
        self.assertTrue(pair.b_is_partial())
        status, body = await self.partial_join_asked_by_a(world)
        self.assertEqual((status, body.get("errcode")), (403, PARTIAL_STATE_ERRCODE))
        status, body = await self.current_state_asked_by_a(world)
        self.assertEqual((status, body.get("errcode")), (400, "M_MISSING_PARAM"))

        # The module's table and rows stay as they were; a device Synapse deletes
        # meanwhile takes its rows with it (ON DELETE CASCADE, in the database).
        self.assertEqual(
            self.module_objects(schema_objects(pair.b)), world.module_objects
        )
        self.assertEqual(self.transaction_rows(world), world.transaction_rows)
        status, body = await self.client.post_json(
            pair.b.client_url + "/_matrix/client/v3/logout",
            {},
            access_token=world.carol.access_token,
        )
        self.assertEqual(status, 200, body)
        world.transaction_rows -= 1
        self.assertEqual(self.transaction_rows(world), world.transaction_rows)

    # Step 4 -----------------------------------------------------------------

    async def module_back(self, world: World) -> None:
        pair, bob = world.pair, world.pair.bob
        await pair.b.restart(load_module=True, module_config=EVERY_FEATURE)
        await self.assert_every_feature_is_built(world)
        self.assertEqual(
            self.module_objects(schema_objects(pair.b)), world.module_objects
        )

        # A new process: the replays are answered from the table, and run nothing
        # (a batch run again would set the state back; a PDU sent again would be
        # refused, its event ID being known).
        self.assertEqual(await self.batch(world, "cycle"), (200, world.batch_ids))
        self.assertEqual(await self.cycle_state_on_b(world), (200, SET_WHILE_OFF))
        self.assertEqual(await self.send_pdu(world), (200, {}))
        self.assertEqual(await self.message_count(world, PDU_MESSAGE), 1)
        self.assertEqual(self.transaction_rows(world), world.transaction_rows)

        status, ids = await self.batch(
            world,
            "after",
            [
                {
                    "event_type": "org.example.cycle",
                    "state_key": "a",
                    "content": {"n": 2},
                }
            ],
        )
        self.assertEqual(status, 200, ids)
        self.assertNotIn(ids[0], world.batch_ids)

        status, body = await self.current_state_asked_by_a(world)
        self.assertEqual(status, 200, body)
        self.assertEqual(cycle_state(body), {"n": 2})
        status, body = await self.partial_join_asked_by_a(world)
        self.assertEqual(status, 200, body)

        rooms = await b_admin_rooms(pair, self.client)
        self.assertEqual([r["room_id"] for r in rooms], [pair.room_id])
        # A serves state again: the admin's resync brings the room to full state.
        pair.proxy.blocked = False
        status, body = await self.client.post_json(
            pair.b.client_url + ADMIN_ROOMS + f"/{quote(pair.room_id)}/resync",
            {},
            access_token=bob.access_token,
        )
        self.assertIn(status, (200, 409), body)
        await wait_until(lambda: not pair.b_is_partial(), 60, "full state")
        self.assertEqual(await b_admin_rooms(pair, self.client), [])
        status, body = await self.client.get_json(
            pair.b.client_url
            + f"/_matrix/client/v3/rooms/{quote(pair.room_id)}/joined_members",
            access_token=bob.access_token,
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body["joined"]), {*pair.a_members, bob.user_id})
        self.assertEqual(
            await self.message_count(world, PARTIAL_ROOM_MESSAGE, pair.room_id), 1
        )

    # Helpers ----------------------------------------------------------------

    async def assert_every_feature_is_built(self, world: World) -> None:
        status, body = await self.client.get_json(
            world.pair.b.client_url + STATUS, access_token=world.pair.bob.access_token
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body["features"]), {spec.name for spec in FEATURES})

    async def batch(
        self, world: World, txn: str, items: list[Any] = BATCH_ITEMS
    ) -> tuple[int, Any]:
        url = world.pair.b.client_url + BATCH.format(room=quote(world.b_room), txn=txn)
        return await self.client.put_json(
            url, items, access_token=world.pair.bob.access_token
        )

    async def cycle_state_on_b(self, world: World) -> tuple[int, Any]:
        return await self.client.get_json(
            world.pair.b.client_url + CYCLE_STATE.format(room=quote(world.b_room)),
            access_token=world.pair.bob.access_token,
        )

    async def send_pdu(self, world: World) -> tuple[int, Any]:
        """send_pdu of ``world.pdu`` in transaction ``pdu-cycle``."""
        return await self.client.put_json(
            world.pair.b.client_url
            + MSC4046.format(room=quote(world.b_room))
            + "/send_pdu/pdu-cycle",
            world.pdu,
            access_token=world.pair.bob.access_token,
        )

    async def message_count(
        self, world: World, text: str, room_id: str | None = None
    ) -> int:
        """How many of the last 50 events of B's room (or ``room_id``) are
        messages saying ``text``, as bob reads them on B."""
        room_id = room_id or world.b_room
        status, body = await self.client.get_json(
            world.pair.b.client_url
            + f"/_matrix/client/v3/rooms/{quote(room_id)}/messages"
            + f"?dir=b&limit=50&filter={quote(json.dumps({'types': ['m.room.message']}))}",
            access_token=world.pair.bob.access_token,
        )
        self.assertEqual(status, 200, body)
        return sum(e["content"].get("body") == text for e in body["chunk"])

    async def current_state_asked_by_a(self, world: World) -> tuple[int, Any]:
        """A's ``GET /state/{B's room}`` without ``event_id`` (MSC2314)."""
        pair = world.pair
        return await pair.a.federation_request(
            self.client, pair.b, "GET", f"{FEDERATION}/state/{quote(world.b_room)}"
        )

    async def partial_join_asked_by_a(self, world: World) -> tuple[int, Any]:
        """A's ``GET /event/{B's join}`` of the partial-state room (MSC3895)."""
        pair = world.pair
        return await pair.a.federation_request(
            self.client,
            pair.b,
            "GET",
            f"{FEDERATION}/event/{quote(world.partial_join_event)}",
        )

    def module_objects(self, objects: dict[str, set[str]]) -> set[str]:
        return {
            name
            for names in objects.values()
            for name in names
            if name.startswith(MODULE_PREFIX)
        }

    def transaction_rows(self, world: World) -> int:
        ((rows,),) = query(world.pair.b, f"SELECT COUNT(*) FROM {TRANSACTIONS_TABLE}")
        return int(rows)


def cycle_state(answer: Any) -> Any:
    """The content of ``org.example.cycle``/``a`` in a ``/state`` answer."""
    (content,) = [
        pdu["content"]
        for pdu in answer["pdus"]
        if (pdu["type"], pdu.get("state_key")) == ("org.example.cycle", "a")
    ]
    return content


class SqliteEnableDisableE2ETests(_EnableDisableScenario):
    async def test_on_off_on_keeps_data_and_features(self) -> None:
        await self.run_scenario(None)


class PostgresEnableDisableE2ETests(_EnableDisableScenario):
    async def test_on_off_on_keeps_data_and_features(self) -> None:
        await self.run_scenario(postgres_cluster().new_database())


del _EnableDisableScenario
