"""The module's routes on a worker's client listener, not only the main process's,
and on a worker's federation listener.

Skipped, saying what is missing, without PostgreSQL server binaries, psycopg2,
redis-server or txredisapi: Synapse's workers need PostgreSQL and Redis.
"""

from urllib.parse import quote

from tests.e2e import probe_module
from tests.e2e.federation import signed_request
from tests.e2e.homeserver import E2ETestCase, start_homeserver
from tests.e2e.postgres import postgres_cluster
from tests.e2e.redis_server import redis_server
from tests.e2e.rooms import create_room, join_over_federation, room_version
from tests.e2e.workers import WORKER_APP, main_process_options, start_worker

STATUS_PATH = "/_synapse/admin/v1/msc_extensions/status"
MSC4046 = "/_matrix/client/unstable/org.matrix.msc4046"


class WorkerTests(E2ETestCase):
    async def test_module_routes_answer_on_a_worker_client_listener(self) -> None:
        cluster = postgres_cluster()
        redis = await redis_server()
        main = await start_homeserver(
            self,
            database=cluster.new_database(),
            load_module=False,
            extra_modules=[probe_module.probe_module_entry()],
            **main_process_options(redis.port),
        )
        worker = await start_worker(self, main)
        admin = await main.register_user(self.client, "worker_admin", admin=True)

        status, body = await self.client.get_json(
            worker.client_url + probe_module.CLIENT_PATH
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"probe": "client", "worker_app": WORKER_APP})

        status, body = await self.client.get_json(
            worker.client_url + "/_matrix/client/versions"
        )
        self.assertEqual(status, 200, body)
        self.assertIs(body["unstable_features"].get(probe_module.FLAG), True)

        status, body = await self.client.get_json(
            worker.client_url + STATUS_PATH, access_token=admin.access_token
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body["worker_app"], WORKER_APP)

        # MSC4046's client endpoints create events on the worker; the main process
        # persists them.
        status, body = await self.client.post_json(
            main.client_url + "/_matrix/client/v3/createRoom",
            {"preset": "private_chat"},
            access_token=admin.access_token,
        )
        self.assertEqual(status, 200, body)
        room = quote(body["room_id"])
        status, template = await self.client.get_json(
            worker.client_url + f"{MSC4046}/room/{room}/make_pdu/m.room.message",
            access_token=admin.access_token,
        )
        self.assertEqual(status, 200, template)
        pdu = {**template["pdu"], "content": {"msgtype": "m.text", "body": "w"}}
        status, body = await self.client.put_json(
            worker.client_url + f"{MSC4046}/room/{room}/send_pdu/t1",
            pdu,
            access_token=admin.access_token,
        )
        self.assertEqual((status, body), (200, {}))
        status, messages = await self.client.get_json(
            main.client_url + f"/_matrix/client/v3/rooms/{room}/messages?dir=b",
            access_token=admin.access_token,
        )
        self.assertEqual(messages["chunk"][0]["content"].get("body"), "w")

        # Its federation endpoints answer on a worker's federation listener (an
        # unsigned request: 401 from the module's servlet, not 404).
        federation_worker = await start_worker(
            self, main, name="federation1", resources=("federation",)
        )
        status, body = await self.client.get_json(
            federation_worker.client_url
            + f"/_matrix/federation/unstable/org.matrix.msc4046/make_pdu/{room}"
        )
        self.assertEqual((status, body["errcode"]), (401, "M_UNAUTHORIZED"), body)


class CurrentStateOnWorkersTests(E2ETestCase):
    async def test_state_answers_on_a_federation_worker(self) -> None:
        """MSC2314's /state and /state_ids, and MSC4046's federation make_pdu,
        answer on a worker's federation listener; MSC2314's recovery API answers
        on the main process only."""
        cluster = postgres_cluster()
        redis = await redis_server()
        main = await start_homeserver(
            self, database=cluster.new_database(), **main_process_options(redis.port)
        )
        worker = await start_worker(self, main, resources=("client", "federation"))
        remote = await start_homeserver(self, load_module=False)
        alice = await main.register_user(self.client, "alice", admin=True)
        bob = await remote.register_user(self.client, "bob")
        room_id = await create_room(self.client, main, alice.access_token)
        version = await room_version(self.client, main, room_id, alice.access_token)
        await join_over_federation(self.client, remote, main, room_id, bob.access_token)

        for endpoint in ("state", "state_ids"):
            status, body = await signed_request(
                self.client,
                origin=remote.server_name,
                signing_key=remote.signing_key(),
                destination=main.server_name,
                destination_url=worker.client_url,
                method="GET",
                uri=f"/_matrix/federation/v1/{endpoint}/{quote(room_id)}",
            )
            self.assertEqual(status, 200, body)
            self.assertEqual(body["room_version"], version)

        # MSC4046's federation make_pdu answers a signed request on the same
        # worker listener with a template for the remote user.
        status, body = await signed_request(
            self.client,
            origin=remote.server_name,
            signing_key=remote.signing_key(),
            destination=main.server_name,
            destination_url=worker.client_url,
            method="GET",
            uri=f"/_matrix/federation/unstable/org.matrix.msc4046/make_pdu/"
            f"{quote(room_id)}?event_type=m.room.message&user_id={quote(bob.user_id)}"
            f"&ver={version}",
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body["pdu"]["sender"], bob.user_id)
        self.assertEqual(body["room_version"], version)

        recover = f"/_synapse/admin/v1/msc_extensions/rooms/{quote(room_id)}/recover"
        status, body = await self.client.get_json(
            worker.client_url + recover, access_token=alice.access_token
        )
        # No such route on the worker; on the main process, no such recovery.
        self.assertEqual((status, body["errcode"]), (404, "M_UNRECOGNIZED"), body)
        status, body = await self.client.get_json(
            main.client_url + recover, access_token=alice.access_token
        )
        self.assertEqual((status, body["errcode"]), (404, "M_NOT_FOUND"), body)
