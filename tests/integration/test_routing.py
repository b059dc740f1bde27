"""The module's servlets are served from Synapse's own resources, with the same
behaviour as built-in ones, and only on homeservers that load the module."""

from http import HTTPStatus

from prometheus_client import REGISTRY
from synapse.api.errors import Codes
from synapse.http.server import JsonResource
from synapse.rest import ClientRestResource
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor

from tests.integration.harness import ModuleTestCase, module_config
from tests.integration.probe import CLIENT_PATH, FLAG, MODULE_WITH_PROBE
from tests.unittest import HomeserverTestCase


class ModuleRoutingTestCase(ModuleTestCase):
    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        self.admin_id, self.admin_token = self.register_admin()
        self.user_id, self.user_token = self.register_member("alice")

    def test_admin_status_answers_for_server_admins(self) -> None:
        code, body = self.request_json(
            "GET",
            "/_synapse/admin/v1/msc_extensions/status",
            access_token=self.admin_token,
        )
        self.assertEqual(code, 200, body)
        self.assertEqual(
            set(body["features"]),
            {"msc3192", "msc4046", "msc2314", "msc3895", "msc3902"},
        )

    def test_admin_status_refuses_other_users(self) -> None:
        code, body = self.request_json(
            "GET",
            "/_synapse/admin/v1/msc_extensions/status",
            access_token=self.user_token,
        )
        self.assertEqual(code, HTTPStatus.FORBIDDEN, body)
        self.assertEqual(body["errcode"], Codes.FORBIDDEN)

    def test_admin_status_needs_a_token(self) -> None:
        code, body = self.request_json(
            "GET", "/_synapse/admin/v1/msc_extensions/status"
        )
        self.assertEqual(code, HTTPStatus.UNAUTHORIZED, body)
        self.assertEqual(body["errcode"], Codes.MISSING_TOKEN)

    def test_wrong_method_is_405_like_built_in_routes(self) -> None:
        code, body = self.request_json(
            "POST",
            "/_synapse/admin/v1/msc_extensions/status",
            access_token=self.admin_token,
        )
        self.assertEqual(code, HTTPStatus.METHOD_NOT_ALLOWED, body)
        self.assertEqual(body["errcode"], Codes.UNRECOGNIZED)

    def test_options_gets_cors_headers(self) -> None:
        channel = self.make_request(
            "OPTIONS", "/_synapse/admin/v1/msc_extensions/status"
        )
        self.assertEqual(channel.code, 204)
        self.assertEqual(
            channel.headers.getRawHeaders(b"Access-Control-Allow-Origin"), [b"*"]
        )

    def test_requests_are_counted_under_the_servlet_name(self) -> None:
        def served() -> float:
            return sum(
                sample.value
                for metric in REGISTRY.collect()
                if metric.name == "synapse_http_server_requests_received"
                for sample in metric.samples
                if sample.labels.get("servlet") == "ModuleStatusServlet"
                and sample.labels.get("method") == "GET"
            )

        before = served()
        self.request_json(
            "GET",
            "/_synapse/admin/v1/msc_extensions/status",
            access_token=self.admin_token,
        )
        self.assertEqual(served(), before + 1)

    def test_versions_keeps_synapse_features(self) -> None:
        code, body = self.request_json("GET", "/_matrix/client/versions")
        self.assertEqual(code, 200, body)
        self.assertIn("v1.11", body["versions"])
        # Synapse's own flags are still there next to ours.
        self.assertIn("org.matrix.label_based_filtering", body["unstable_features"])


class StatusListsFeaturesBuiltTestCase(ModuleTestCase):
    module_settings = {
        "msc3192": {"enabled": False},
        "msc3895": {"errcode": "stable"},
        "msc3902": {"resync_interval": "30s"},
        "msc2314": {"rate_limit": {"per_second": 0.25}},
    }

    def status(self) -> JsonDict:
        _, token = self.register_admin()
        code, body = self.request_json(
            "GET", "/_synapse/admin/v1/msc_extensions/status", access_token=token
        )
        self.assertEqual(code, 200, body)
        assert isinstance(body, dict)
        return body

    def test_a_disabled_feature_is_not_listed(self) -> None:
        self.assertEqual(
            set(self.status()["features"]), {"msc4046", "msc2314", "msc3895", "msc3902"}
        )

    def test_each_feature_shows_its_effective_settings(self) -> None:
        features = self.status()["features"]
        self.assertEqual(features["msc3895"], {"enabled": True, "errcode": "stable"})
        self.assertEqual(
            features["msc3902"],
            {
                "enabled": True,
                "resync_interval": 30_000,
                "max_resync_interval": 3_600_000,
            },
        )
        self.assertEqual(
            features["msc2314"]["rate_limit"], {"per_second": 0.25, "burst_count": 10}
        )
        self.assertEqual(features["msc4046"], {"enabled": True})


class FeatureRouterTestCase(HomeserverTestCase):
    """A feature's servlets reach every client resource built for its homeserver."""

    def default_config(self) -> JsonDict:
        config: JsonDict = super().default_config()
        config["modules"] = module_config(module=MODULE_WITH_PROBE)
        return config

    def create_resource_dict(self) -> dict[str, JsonResource]:
        return {"/_matrix/client": ClientRestResource(self.hs)}

    def test_feature_servlet_answers(self) -> None:
        channel = self.make_request("GET", CLIENT_PATH)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"echo": True})

    def test_versions_advertises_feature(self) -> None:
        channel = self.make_request("GET", "/_matrix/client/versions")
        self.assertEqual(channel.code, 200)
        self.assertIs(channel.json_body["unstable_features"][FLAG], True)

    def test_media_only_resource_gets_no_feature_servlets(self) -> None:
        resource = ClientRestResource(self.hs, servlet_groups=["media"])
        self.assertFalse(
            any("org.example.probe" in p.pattern for p in resource._routes),
        )

    def test_other_homeserver_in_process_is_untouched(self) -> None:
        # Same process, no module in its config.
        other = self.setup_test_homeserver(
            name="other.example.com", config=super().default_config()
        )
        resource = ClientRestResource(other)
        self.assertFalse(
            any("org.example.probe" in p.pattern for p in resource._routes)
        )
