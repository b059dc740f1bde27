"""MSC2314 points 1-4: the serving side of a room's current state.

The room lives on ``other.example.com`` and is fully joined here (the partial-state
fixture's join, resynced); ``other.example.com`` asks for its state, signed.
``third.example.com`` has nobody in the room.
"""

import json
from typing import Any
from unittest.mock import patch

from signedjson.key import generate_signing_key
from synapse.api.errors import Codes
from synapse.api.room_versions import RoomVersions
from synapse.events import make_event_from_dict

from msc_extensions._synapse_private.current_state import CurrentStateReads
from msc_extensions.partial_state.errcodes import UNSTABLE_ERRCODE
from tests.e2e.federation import x_matrix_authorization
from tests.integration.test_msc3902_fixture import PartialStateTestCase

V1 = "/_matrix/federation/v1"
UNSTABLE = "/_matrix/federation/unstable/org.matrix.msc2314"
THIRD = "third.example.com"


def ids_of(pdus: list[Any]) -> set[str]:
    return {make_event_from_dict(p, RoomVersions.V10).event_id for p in pdus}


class _FullStateRoomTestCase(PartialStateTestCase):
    def prepare(self, *args: Any) -> None:
        super().prepare(*args)
        self.remote_up = True
        self.join_partial()
        self.reactor.advance(0.5)
        self.assertFalse(self.is_partial())

    def get_from(self, origin: str, path: str) -> tuple[int, Any]:
        return self.signed_request_from(origin, "GET", path)

    def state_of(self, body: Any) -> dict[tuple[str, str], Any]:
        return {(p["type"], p["state_key"]): p["content"] for p in body["pdus"]}

    def send_remote_state(self, fields: dict[str, Any]) -> None:
        """A state event from the remote creator, received over federation."""
        latest = self.get_success(self.store.get_latest_event_ids_in_room(self.room_id))
        depth = 1 + max(
            e.depth for e in self.get_success(self.store.get_events_as_list(latest))
        )
        event = self._event(
            {
                "sender": self.creator,
                "state_key": "",
                "prev_events": list(latest),
                "depth": depth,
                "auth_events": [
                    self.create.event_id,
                    self.creator_join.event_id,
                    self.power_levels.event_id,
                ],
                **fields,
            }
        )
        self.get_success(
            self.hs.get_federation_event_handler().on_receive_pdu(
                self.OTHER_SERVER_NAME, event
            )
        )

    def set_displayname(self, name: str) -> None:
        code, body = self.request_json(
            "PUT",
            f"/_matrix/client/v3/profile/{self.alice_id}/displayname",
            {"displayname": name},
            access_token=self.alice_token,
        )
        self.assertEqual(code, 200, body)
        self.reactor.advance(0.1)


class CurrentStateTests(_FullStateRoomTestCase):
    # Point 1.
    def test_v1_state_without_event_id_is_the_current_state(self) -> None:
        code, body = self.get_from(self.OTHER_SERVER_NAME, f"{V1}/state/{self.room_id}")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["room_version"], "10")
        state = self.state_of(body)
        self.assertEqual(
            {k for k in state if k[0] == "m.room.member"},
            {("m.room.member", m) for m in [*self.members, self.alice_id]},
        )
        self.assertIn(("m.room.create", ""), state)
        self.assertEqual(state[("m.room.join_rules", "")], {"join_rule": "public"})
        # Every auth event of the state is in the state or the auth chain.
        have = ids_of(body["pdus"]) | ids_of(body["auth_chain"])
        wanted = {a for p in body["pdus"] for a in p["auth_events"]}
        self.assertLessEqual(wanted, have)

    def test_read_and_encoded_in_small_batches_it_is_the_same_answer(self) -> None:
        # Reads of 2 events, one at a time through Synapse: every boundary is
        # crossed.
        with (
            patch("msc_extensions._synapse_private.stored_pdus.EVENTS_PER_READ", 2),
            patch(
                "msc_extensions._synapse_private.stored_pdus.EVENTS_PER_SYNAPSE_READ", 1
            ),
        ):
            code, body = self.get_from(
                self.OTHER_SERVER_NAME, f"{V1}/state/{self.room_id}"
            )
        self.assertEqual(code, 200, body)
        state_ids = self.get_success(
            self.hs.get_storage_controllers().state.get_current_state_ids(self.room_id)
        )
        # The auth chain is the one Synapse walks from every state event.
        auth_chain_ids = self.get_success(
            self.store.get_auth_chain_ids(self.room_id, list(state_ids.values()))
        )
        self.assertEqual(len(body["pdus"]), len(state_ids))
        self.assertEqual(ids_of(body["pdus"]), set(state_ids.values()))
        self.assertEqual(len(body["auth_chain"]), len(auth_chain_ids))
        self.assertEqual(ids_of(body["auth_chain"]), auth_chain_ids)

    def test_the_unstable_path_answers_the_same(self) -> None:
        _, stable = self.get_from(self.OTHER_SERVER_NAME, f"{V1}/state/{self.room_id}")
        code, body = self.get_from(
            self.OTHER_SERVER_NAME, f"{UNSTABLE}/state/{self.room_id}"
        )
        self.assertEqual(code, 200, body)
        self.assertEqual(body, stable)

    def test_with_an_event_id_synapse_answers_with_the_room_version(self) -> None:
        path = f"/state/{self.room_id}?event_id={self.alice_join.event_id}"
        for prefix in (V1, UNSTABLE):
            code, body = self.get_from(self.OTHER_SERVER_NAME, prefix + path)
            self.assertEqual(code, 200, body)
            self.assertEqual(body["room_version"], "10")
            # The state *before* alice's join: without her.
            self.assertNotIn(("m.room.member", self.alice_id), self.state_of(body))

    def test_a_new_state_event_shows_at_once_despite_the_cache(self) -> None:
        path = f"{V1}/state/{self.room_id}"
        _, before = self.get_from(self.OTHER_SERVER_NAME, path)
        self.set_displayname("Alice Liddell")
        _, after = self.get_from(self.OTHER_SERVER_NAME, path)
        member = ("m.room.member", self.alice_id)
        self.assertNotIn("displayname", self.state_of(before)[member])
        self.assertEqual(self.state_of(after)[member]["displayname"], "Alice Liddell")

    def test_a_repeat_between_two_events_is_served_from_the_cache(self) -> None:
        path = f"{V1}/state/{self.room_id}"
        reads = CurrentStateReads.current_state_ids
        with patch.object(
            CurrentStateReads, "current_state_ids", autospec=True, side_effect=reads
        ) as counted:
            channels = [
                self.make_signed_federation_request("GET", path) for _ in range(3)
            ]
        self.assertEqual(counted.call_count, 1)
        bodies = {bytes(c.result["body"]) for c in channels}
        self.assertEqual(len(bodies), 1)
        self.assertEqual(json.loads(bodies.pop())["room_version"], "10")

    # Point 3.
    def test_state_ids_without_event_id(self) -> None:
        _, state = self.get_from(self.OTHER_SERVER_NAME, f"{V1}/state/{self.room_id}")
        for prefix in (V1, UNSTABLE):
            code, body = self.get_from(
                self.OTHER_SERVER_NAME, f"{prefix}/state_ids/{self.room_id}"
            )
            self.assertEqual(code, 200, body)
            self.assertEqual(body["room_version"], "10")
            self.assertEqual(set(body["pdu_ids"]), ids_of(state["pdus"]))
            self.assertEqual(set(body["auth_chain_ids"]), ids_of(state["auth_chain"]))

    def test_state_ids_with_an_event_id_adds_the_room_version(self) -> None:
        code, body = self.get_from(
            self.OTHER_SERVER_NAME,
            f"{V1}/state_ids/{self.room_id}?event_id={self.alice_join.event_id}",
        )
        self.assertEqual(code, 200, body)
        self.assertEqual(body["room_version"], "10")
        self.assertIn(self.create.event_id, body["pdu_ids"])

    # Point 2.
    def test_a_server_not_in_the_room_is_refused(self) -> None:
        for prefix in (V1, UNSTABLE):
            for endpoint in ("state", "state_ids"):
                code, body = self.get_from(THIRD, f"{prefix}/{endpoint}/{self.room_id}")
                self.assertEqual(code, 403, body)
                self.assertEqual(body["errcode"], Codes.FORBIDDEN)

    def test_an_unknown_room_is_404(self) -> None:
        for endpoint in ("state", "state_ids"):
            code, body = self.get_from(
                self.OTHER_SERVER_NAME, f"{V1}/{endpoint}/!nowhere:other.example.com"
            )
            self.assertEqual(code, 404, body)
            self.assertEqual(body["errcode"], Codes.NOT_FOUND)

    def test_server_acls_apply(self) -> None:
        self.send_remote_state(
            {
                "type": "m.room.server_acl",
                "content": {"allow": ["*"], "deny": [self.OTHER_SERVER_NAME]},
            }
        )
        for endpoint in ("state", "state_ids"):
            code, body = self.get_from(
                self.OTHER_SERVER_NAME, f"{V1}/{endpoint}/{self.room_id}"
            )
            self.assertEqual(code, 403, body)
            self.assertEqual(body["errcode"], Codes.FORBIDDEN)

    def test_unsigned_requests_are_401(self) -> None:
        for prefix in (V1, UNSTABLE):
            channel = self.make_request("GET", f"{prefix}/state/{self.room_id}")
            self.assertEqual(channel.code, 401, channel.json_body)

    def test_a_request_signed_with_another_key_is_401(self) -> None:
        # Claims to be other.example.com, under its key ID, with another key.
        self.trust_server(self.OTHER_SERVER_NAME)
        forged_key = generate_signing_key(self.OTHER_SERVER_SIGNATURE_KEY.version)
        path = f"{V1}/state/{self.room_id}"
        authorization = x_matrix_authorization(
            origin=self.OTHER_SERVER_NAME,
            destination=self.hs.hostname,
            signing_key=forged_key,
            method="GET",
            uri=path,
        )
        channel = self.make_request(
            "GET", path, custom_headers=[("Authorization", authorization)]
        )
        self.assertEqual(channel.code, 401, channel.json_body)


class RateLimitTests(_FullStateRoomTestCase):
    module_settings = {
        "msc2314": {"rate_limit": {"per_second": 0.01, "burst_count": 2}}
    }

    def test_each_origin_has_its_own_bucket(self) -> None:
        path = f"{V1}/state_ids/{self.room_id}"
        for _ in range(2):
            code, body = self.get_from(self.OTHER_SERVER_NAME, path)
            self.assertEqual(code, 200, body)
        code, body = self.get_from(self.OTHER_SERVER_NAME, path)
        self.assertEqual(code, 429, body)
        self.assertEqual(body["errcode"], Codes.LIMIT_EXCEEDED)
        # A server not in the room is refused for that, not for the rate.
        code, body = self.get_from(THIRD, path)
        self.assertEqual(code, 403, body)


class V1SwitchedOffTests(_FullStateRoomTestCase):
    module_settings = {"msc2314": {"v1_without_event_id": False}}

    def test_v1_without_event_id_is_stock_synapse(self) -> None:
        for endpoint in ("state", "state_ids"):
            code, body = self.get_from(
                self.OTHER_SERVER_NAME, f"{V1}/{endpoint}/{self.room_id}"
            )
            self.assertEqual(code, 400, body)
            self.assertEqual(body["errcode"], Codes.MISSING_PARAM)

    def test_the_unstable_path_still_answers(self) -> None:
        code, body = self.get_from(
            self.OTHER_SERVER_NAME, f"{UNSTABLE}/state/{self.room_id}"
        )
        self.assertEqual(code, 200, body)
        self.assertEqual(body["room_version"], "10")


class FeatureDisabledTests(_FullStateRoomTestCase):
    module_settings = {"msc2314": {"enabled": False}}

    def test_stock_synapse_answers(self) -> None:
        code, body = self.get_from(self.OTHER_SERVER_NAME, f"{V1}/state/{self.room_id}")
        self.assertEqual(code, 400, body)
        self.assertEqual(body["errcode"], Codes.MISSING_PARAM)
        code, body = self.get_from(
            self.OTHER_SERVER_NAME,
            f"{V1}/state/{self.room_id}?event_id={self.alice_join.event_id}",
        )
        self.assertEqual(code, 200, body)
        self.assertNotIn("room_version", body)
        code, body = self.get_from(
            self.OTHER_SERVER_NAME, f"{UNSTABLE}/state/{self.room_id}"
        )
        self.assertEqual(code, 404, body)


class PartialStateRoomTests(PartialStateTestCase):
    def test_a_partial_state_room_gets_the_msc3895_code(self) -> None:
        self.join_partial()
        self.assertTrue(self.is_partial())
        for prefix in (V1, UNSTABLE):
            for endpoint in ("state", "state_ids"):
                code, body = self.signed_request_from(
                    self.OTHER_SERVER_NAME,
                    "GET",
                    f"{prefix}/{endpoint}/{self.room_id}",
                )
                self.assertEqual(code, 403, body)
                self.assertEqual(body["errcode"], UNSTABLE_ERRCODE)
