"""MSC4046 federation endpoints: a server that is not in the room (the harness's
``other.example.com``) builds and sends a PDU through this one."""

from typing import Any
from urllib.parse import quote, urlencode

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor

from tests.integration.test_msc4046_base import FEDERATION, Msc4046TestCase
from tests.test_utils.event_injection import inject_member_event


class FederationTests(Msc4046TestCase):
    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        super().prepare(reactor, clock, hs)
        self.remote_id = f"@remote:{self.OTHER_SERVER_NAME}"
        self.get_success(
            inject_member_event(
                hs, self.room_id, self.owner_id, "invite", target=self.remote_id
            )
        )
        self.version = self.get_success(self.store.get_room_version_id(self.room_id))

    def fed_make(self, room_id: str | None = None, **params: Any) -> tuple[int, Any]:
        query = {
            "event_type": "m.room.member",
            "user_id": self.remote_id,
            "membership": "leave",
            "ver": [self.version],
            **params,
        }
        query = {k: v for k, v in query.items() if v is not None}
        path = f"{FEDERATION}/make_pdu/{quote(room_id or self.room_id)}?" + urlencode(
            query, doseq=True
        )
        return self.federation("GET", path)

    def fed_send(self, pdu: JsonDict, room_id: str | None = None) -> tuple[int, Any]:
        path = f"{FEDERATION}/send_pdu/{quote(room_id or self.room_id)}"
        return self.federation("PUT", path, pdu)

    def signed_leave(self) -> JsonDict:
        code, body = self.fed_make()
        self.assertEqual(code, 200, body)
        pdu = {**body["pdu"], "content": {"membership": "leave"}}
        return dict(
            self.add_hashes_and_signatures_from_other_server(
                pdu, KNOWN_ROOM_VERSIONS[self.version]
            )
        )

    def remote_membership(self) -> str | None:
        state = self.get_success(
            self.hs.get_storage_controllers().state.get_current_state(self.room_id)
        )
        event = state.get(("m.room.member", self.remote_id))
        return None if event is None else str(event.content["membership"])

    def test_invite_rejection_through_this_server(self) -> None:
        self.assertEqual(self.remote_membership(), "invite")
        self.assertEqual(self.fed_send(self.signed_leave()), (200, {}))
        self.assertEqual(self.remote_membership(), "leave")

    def test_make_pdu_parameters(self) -> None:
        self.assert_error(self.fed_make(user_id=None), 400, "M_MISSING_PARAM")
        self.assert_error(self.fed_make(event_type=None), 400, "M_MISSING_PARAM")
        self.assert_error(self.fed_make(user_id=self.owner_id), 403, "M_FORBIDDEN")
        body = self.assert_error(
            self.fed_make(ver=["1"]), 400, "M_INCOMPATIBLE_ROOM_VERSION"
        )
        self.assertEqual(body["room_version"], self.version)
        self.assert_error(self.fed_make(room_id="!unknown:test"), 404, "M_NOT_FOUND")
        body = self.assert_error(
            self.fed_make(membership="join"), 400, "M_INVALID_PARAM"
        )
        self.assertIn("make_join", body["error"])

    def test_a_user_who_cannot_send_gets_403(self) -> None:
        self.assert_error(
            self.fed_make(event_type="m.room.message", membership=None),
            403,
            "M_FORBIDDEN",
        )

    def test_forged_federation_pdus(self) -> None:
        leave = self.signed_leave()
        # Another server's user.
        self.assert_error(
            self.fed_send({**leave, "sender": "@x:third.example.com"}),
            403,
            "M_FORBIDDEN",
        )
        # Another room.
        code, body = self.fed_send(leave, room_id="!other:test")
        self.assertEqual(code, 400, body)
        # Not signed by the sender's server.
        unsigned = {k: v for k, v in leave.items() if k != "signatures"}
        self.assert_error(self.fed_send(unsigned), 400, "M_BAD_JSON")
        # A join names make_join.
        join = self.add_hashes_and_signatures_from_other_server(
            {**leave, "content": {"membership": "join"}},
            KNOWN_ROOM_VERSIONS[self.version],
        )
        body = self.assert_error(self.fed_send(join), 400, "M_INVALID_PARAM")
        self.assertIn("make_join", body["error"])
        self.assertEqual(self.remote_membership(), "invite")

    def test_acl_denies_both_endpoints(self) -> None:
        leave = self.signed_leave()
        self.helper.send_state(
            self.room_id,
            "m.room.server_acl",
            {"allow": ["*"], "deny": [self.OTHER_SERVER_NAME]},
            tok=self.owner_token,
        )
        self.assert_error(self.fed_make(), 403, "M_FORBIDDEN")
        self.assert_error(self.fed_send(leave), 403, "M_FORBIDDEN")
        self.assertEqual(self.remote_membership(), "invite")

    def test_a_joined_server_is_unauthorized(self) -> None:
        leave = self.signed_leave()
        self.get_success(
            inject_member_event(
                self.hs, self.room_id, f"@joined:{self.OTHER_SERVER_NAME}", "join"
            )
        )
        self.assert_error(self.fed_send(leave), 400, "M_UNAUTHORIZED")


class FederationRateLimitTests(Msc4046TestCase):
    def default_config(self) -> JsonDict:
        config = super().default_config()
        # One request at a time per origin; a second one in the window waits, and
        # any more are refused.
        config["rc_federation"] = {
            "window_size": 10_000,
            "sleep_limit": 1,
            "sleep_delay": 10_000,
            "reject_limit": 0,
            "concurrent": 1,
        }
        return config

    def test_make_pdu_is_rate_limited_per_origin(self) -> None:
        self.assert_third_request_refused("GET", "make_pdu", None)

    def test_send_pdu_is_rate_limited_per_origin(self) -> None:
        self.assert_third_request_refused("PUT", "send_pdu", {})

    def assert_third_request_refused(
        self, method: str, endpoint: str, body: JsonDict | None
    ) -> None:
        path = f"{FEDERATION}/{endpoint}/{quote(self.room_id)}"
        channels = [
            self.make_signed_federation_request(method, path, body, await_result=False)
            for _ in range(3)
        ]
        self.pump(1)
        self.assertEqual(channels[-1].code, 429)
        self.assertEqual(channels[-1].json_body["errcode"], "M_LIMIT_EXCEEDED")
        self.reactor.advance(30)
