"""Bad input to any module endpoint gets a Matrix error, never a 500.

One sweep over every endpoint the module serves, with malformed bodies, paths and
query strings. Each answer must be a 4xx with ``errcode`` and ``error``.
"""

from http import HTTPStatus
from urllib.parse import quote

from synapse.server import HomeServer
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor

from tests.integration.harness import ModuleTestCase
from tests.server import FakeChannel

BATCH = "/_matrix/client/unstable/org.matrix.msc3192/rooms/{room}/batch_state/{txn}"
ROOMS = "/_synapse/admin/v1/msc_extensions/partial_state_rooms"
RECOVER = "/_synapse/admin/v1/msc_extensions/rooms/{room}/recover"

BAD_BODIES: list[bytes] = [
    b"",
    b"{",
    b"null",
    b'"text"',
    b"[1, 2]",
    b"\xff\xfe",
    b'{"lose": "everything"}',
    b'{"lose": [1, {}]}',
    b'[{"event_type": 1, "content": []}]',
    b"[" * 5000 + b"]" * 5000,
]

BAD_ROOM_IDS = ["not-a-room", "!", "!unknown:test", "@user:test", "%00", "#alias:test"]


class BadInputTestCase(ModuleTestCase):
    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        _, self.admin_token = self.register_admin()
        self.room_id = self.helper.create_room_as(
            self.helper.auth_user_id or "@admin:test", tok=self.admin_token
        )

    def assert_matrix_error(self, channel: FakeChannel, what: str) -> None:
        self.assertGreaterEqual(channel.code, 400, what)
        self.assertLess(channel.code, 500, f"{what}: {channel.code} {channel.result}")
        body = channel.json_body
        self.assertIsInstance(body.get("errcode"), str, what)
        self.assertIsInstance(body.get("error"), str, what)

    def send(self, method: str, path: str, body: bytes) -> FakeChannel:
        return self.make_request(
            method, path, content=body, access_token=self.admin_token
        )

    def test_batch_state_bad_bodies(self) -> None:
        for index, body in enumerate(BAD_BODIES):
            path = BATCH.format(room=quote(self.room_id), txn=f"bad{index}")
            self.assert_matrix_error(self.send("PUT", path, body), repr(body[:40]))

    def test_batch_state_bad_room_ids(self) -> None:
        body = b'[{"event_type": "m.room.topic", "content": {"topic": "x"}}]'
        for index, room in enumerate(BAD_ROOM_IDS):
            path = BATCH.format(room=quote(room), txn=f"room{index}")
            self.assert_matrix_error(self.send("PUT", path, body), room)

    def test_admin_api_bad_room_ids_and_bodies(self) -> None:
        for room in [*BAD_ROOM_IDS, self.room_id]:
            resync = f"{ROOMS}/{quote(room)}/resync"
            self.assert_matrix_error(self.send("POST", resync, b""), f"resync {room}")
            for body in BAD_BODIES:
                channel = self.send("DELETE", f"{ROOMS}/{quote(room)}", body)
                self.assert_matrix_error(channel, f"delete {room} {body[:20]!r}")

    def test_recovery_api_bad_room_ids_and_bodies(self) -> None:
        for room in [*BAD_ROOM_IDS, self.room_id]:
            path = RECOVER.format(room=quote(room))
            self.assert_matrix_error(self.send("GET", path, b""), f"status {room}")
            for body in [*BAD_BODIES, b'{"servers": [""]}', b'{"servers": ["a b"]}']:
                channel = self.send("POST", path, body)
                self.assert_matrix_error(channel, f"recover {room} {body[:20]!r}")

    def test_admin_list_with_a_bad_query(self) -> None:
        channel = self.send("GET", f"{ROOMS}?from=-1&limit=abc", b"")
        self.assertIn(channel.code, (HTTPStatus.OK, HTTPStatus.BAD_REQUEST))
        if channel.code != HTTPStatus.OK:
            self.assert_matrix_error(channel, "list with a bad query")


class FederationBadInputTestCase(ModuleTestCase):
    """Signed requests as ``other.example.com`` (the harness's remote server)."""

    def test_federation_endpoints_bad_paths(self) -> None:
        paths = [
            "/_matrix/federation/v1/event/%24nothing",
            "/_matrix/federation/v1/event/not-an-event",
            "/_matrix/federation/v1/event_auth/not-a-room/%24nothing",
            "/_matrix/federation/v1/event_auth/!unknown:test/%24nothing",
            "/_matrix/federation/v1/hierarchy/not-a-room",
            "/_matrix/federation/v1/hierarchy/!unknown:test?suggested_only=maybe",
        ]
        for path in paths:
            channel = self.make_signed_federation_request("GET", path)
            # Stock Synapse answers an unknown /event with 404 and an empty body,
            # which the module keeps for events it has no obligation about; the
            # status is what must never be a 5xx.
            self.assertGreaterEqual(channel.code, 400, path)
            self.assertLess(channel.code, 500, f"{path}: {channel.result}")

    def test_current_state_endpoints_bad_paths(self) -> None:
        prefixes = [
            "/_matrix/federation/v1",
            "/_matrix/federation/unstable/org.matrix.msc2314",
        ]
        queries = ["", "?event_id=", "?event_id=%24nothing", "?event_id=%FF"]
        for prefix in prefixes:
            for endpoint in ("state", "state_ids"):
                for room in BAD_ROOM_IDS:
                    for query in queries:
                        path = f"{prefix}/{endpoint}/{quote(room)}{query}"
                        channel = self.make_signed_federation_request("GET", path)
                        self.assertGreaterEqual(channel.code, 400, path)
                        self.assertLess(channel.code, 500, f"{path}: {channel.result}")
                        self.assertIsInstance(channel.json_body.get("errcode"), str)
