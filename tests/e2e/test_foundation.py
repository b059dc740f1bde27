"""The module and its routing, on real homeserver processes.

Harness tests build resources the way Synapse does; only a real process proves that
Synapse calls the hooks for the listeners it actually builds, that a TLS federation
listener authenticates X-Matrix requests to module servlets, and that a bad config
stops start-up.
"""

from signedjson.key import generate_signing_key
from synapse.types import JsonDict

from tests.e2e import probe_module
from tests.e2e.federation import signed_request
from tests.e2e.homeserver import (
    READY_TIMEOUT,
    E2ETestCase,
    HomeserverPair,
    launch_homeserver,
    shared_pair,
    start_homeserver,
)

STATUS_PATH = "/_synapse/admin/v1/msc_extensions/status"
VERSIONS_PATH = "/_matrix/client/versions"


async def _probe_pair() -> HomeserverPair:
    """Two federating servers loading msc_extensions and the probe module, shared by
    the read-only tests below."""
    return await shared_pair(
        "foundation",
        load_module=False,
        extra_modules=[probe_module.probe_module_entry()],
    )


class ClientListenerTests(E2ETestCase):
    async def test_status_endpoint_answers_server_admins_only(self) -> None:
        hs = (await _probe_pair()).a
        admin = await hs.register_user(self.client, "status_admin", admin=True)
        member = await hs.register_user(self.client, "status_member")

        status, body = await self.client.get_json(
            hs.client_url + STATUS_PATH, access_token=admin.access_token
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(
            set(body["features"]),
            {"msc3192", "msc4046", "msc2314", "msc3895", "msc3902", "probe"},
        )

        status, body = await self.client.get_json(
            hs.client_url + STATUS_PATH, access_token=member.access_token
        )
        self.assertEqual(status, 403, body)
        self.assertEqual(body["errcode"], "M_FORBIDDEN")

    async def test_probe_client_and_admin_endpoints_answer(self) -> None:
        hs = (await _probe_pair()).a
        status, body = await self.client.get_json(
            hs.client_url + probe_module.CLIENT_PATH
        )
        self.assertEqual((status, body["probe"]), (200, "client"), body)

        status, body = await self.client.get_json(
            hs.client_url + probe_module.ADMIN_PATH
        )
        self.assertEqual((status, body), (200, {"probe": "admin"}))

    async def test_versions_advertises_module_flags_and_synapse_versions(
        self,
    ) -> None:
        hs = (await _probe_pair()).a
        status, body = await self.client.get_json(hs.client_url + VERSIONS_PATH)
        self.assertEqual(status, 200, body)
        self.assertIs(body["unstable_features"].get(probe_module.FLAG), True)
        self.assertIn("v1.1", body["versions"])
        # Synapse's own flags are still there.
        self.assertIn("org.matrix.msc3882", body["unstable_features"])


class FederationListenerTests(E2ETestCase):
    async def test_signed_request_reaches_probe_with_its_origin(self) -> None:
        pair = await _probe_pair()
        status, body = await pair.a.federation_request(
            self.client, pair.b, "GET", probe_module.FEDERATION_PATH
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"probe": "federation", "origin": pair.a.server_name})

    async def test_signed_request_with_a_body_reaches_probe(self) -> None:
        pair = await _probe_pair()
        content = {"greeting": "hello", "nested": {"n": 1}}
        status, body = await pair.b.federation_request(
            self.client, pair.a, "PUT", probe_module.FEDERATION_PATH, content
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body["origin"], pair.b.server_name)
        self.assertEqual(body["content"], content)

    async def test_request_signed_with_another_key_is_refused(self) -> None:
        pair = await _probe_pair()
        forged_key = generate_signing_key(pair.a.signing_key().version)
        status, body = await signed_request(
            self.client,
            origin=pair.a.server_name,
            signing_key=forged_key,
            destination=pair.b.server_name,
            destination_url=pair.b.federation_url,
            method="GET",
            uri=probe_module.FEDERATION_PATH,
        )
        self.assertEqual(status, 401, body)

    async def test_unsigned_request_is_refused(self) -> None:
        hs = (await _probe_pair()).b
        status, body = await self.client.get_json(
            hs.federation_url + probe_module.FEDERATION_PATH
        )
        self.assertEqual(status, 401, body)

    async def test_federation_listener_serves_no_client_or_admin_paths(self) -> None:
        hs = (await _probe_pair()).a
        admin = await hs.register_user(self.client, "fed_admin", admin=True)
        for path in (VERSIONS_PATH, probe_module.CLIENT_PATH, STATUS_PATH):
            status, body = await self.client.get_json(
                hs.federation_url + path, access_token=admin.access_token
            )
            self.assertEqual(status, 404, f"{path}: {body}")
        # The same token works on the client listener.
        status, body = await self.client.get_json(
            hs.client_url + STATUS_PATH, access_token=admin.access_token
        )
        self.assertEqual(status, 200, body)


class WithoutModuleTests(E2ETestCase):
    async def test_homeserver_without_the_module_serves_none_of_its_paths(
        self,
    ) -> None:
        hs = await start_homeserver(self, load_module=False)
        admin = await hs.register_user(self.client, "plain_admin", admin=True)
        status, body = await self.client.get_json(
            hs.client_url + STATUS_PATH, access_token=admin.access_token
        )
        self.assertEqual(status, 404, body)
        status, body = await self.client.get_json(hs.client_url + VERSIONS_PATH)
        self.assertEqual(status, 200, body)
        self.assertNotIn(probe_module.FLAG, body["unstable_features"])


class BadConfigTests(E2ETestCase):
    """Synapse refuses to start, naming the offending key, rather than running with
    a setting the admin did not mean."""

    async def assert_start_fails_naming(
        self, module_config: JsonDict, key: str
    ) -> None:
        hs = launch_homeserver(self, module_config=module_config)
        code = await hs.process.wait_for_exit(READY_TIMEOUT)
        self.assertNotEqual(code, 0)
        self.assertIn(key, hs.process.log_tail())

    async def test_wrong_type_stops_start_up(self) -> None:
        await self.assert_start_fails_naming(
            {"msc3192": {"enabled": "yes"}}, "msc3192.enabled"
        )

    async def test_unknown_key_stops_start_up(self) -> None:
        await self.assert_start_fails_naming(
            {"msc3902": {"no_such_key": 1}}, "msc3902.no_such_key"
        )
