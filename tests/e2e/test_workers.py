"""The module's routes on a worker's client listener, not only the main process's.

Skipped, saying what is missing, without PostgreSQL server binaries, psycopg2,
redis-server or txredisapi: Synapse's workers need PostgreSQL and Redis.
"""

from tests.e2e import probe_module
from tests.e2e.homeserver import E2ETestCase, start_homeserver
from tests.e2e.postgres import postgres_cluster
from tests.e2e.redis_server import redis_server
from tests.e2e.workers import WORKER_APP, main_process_options, start_worker

STATUS_PATH = "/_synapse/admin/v1/msc_extensions/status"


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
