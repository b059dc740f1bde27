"""Bad input to any module endpoint gets a Matrix error, never a 500.

One sweep over every endpoint the module serves, with malformed bodies, paths and
query strings. Each answer must be a 4xx with ``errcode`` and ``error``.
"""

import json
from http import HTTPStatus
from urllib.parse import quote

from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor

from tests.integration.harness import ModuleTestCase
from tests.server import FakeChannel

BATCH = "/_matrix/client/unstable/org.matrix.msc3192/rooms/{room}/batch_state/{txn}"
ROOMS = "/_synapse/admin/v1/msc_extensions/partial_state_rooms"
MAKE_PDU = "/_matrix/client/unstable/org.matrix.msc4046/room/{room}/make_pdu/{type}"
SEND_PDU = "/_matrix/client/unstable/org.matrix.msc4046/room/{room}/send_pdu/{txn}"
FED_PDU = "/_matrix/federation/unstable/org.matrix.msc4046"
BAD_PDU_QUERIES = [
    "membership=dance",
    "membership=join",
    "state_key=a&no_state_key=true",
    "no_state_key=maybe",
    "state_key=" + "k" * 300,
    "server_name=",
    "server_name=%00",
    "server_name=not%20a%20server",
    "%ff=%ff",
]
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
    # Deeper than Synapse's JSON parser goes, inside an item's content.
    b'[{"event_type": "a.b", "content": '
    + b'{"a": ' * 2000
    + b"1"
    + b"}" * 2001
    + b"]",
]

#: Items inside an otherwise good batch, from a wider sweep: every field's type
#: swapped, strings and numbers JSON cannot carry, nesting and sizes at and past
#: the limits. Each is a 400 and nothing is written.
REFUSED_ITEMS: list[str] = [
    *(
        f'{{"event_type": {value}, "content": {{}}}}'
        for value in ("1", "true", "null", "[]", "{}", '""')
    ),
    *(
        f'{{"event_type": "a.b", "state_key": {value}, "content": {{}}}}'
        for value in ("1", "false", "null", '["k"]', "{}")
    ),
    *(
        f'{{"event_type": "a.b", "content": {value}}}'
        for value in ('"text"', "[]", "[{}]", "0", "true", "null")
    ),
    '{"event_type": "a.b", "content": {}, "extra": 1}',
    '{"event_type": "m.room.member", "state_key": "not-a-user", "content": '
    '{"membership": "ban"}}',
    '{"event_type": "m.room.member", "state_key": "@u:test", "content": '
    '{"membership": ["ban"]}}',
    '{"event_type": "m.room.member", "state_key": "@u:test", "content": '
    '{"membership": "kick"}}',
    r'{"event_type": "a\udbff", "content": {}}',
    r'{"event_type": "a.b", "content": {"\udc00\ud800": "reversed pair"}}',
    '{"event_type": "a.b", "content": {"n": 1e309}}',
    # PostgreSQL cannot store NUL in an event's type or state key.
    r'{"event_type": "a.b", "state_key": "\u0000", "content": {}}',
    r'{"event_type": "a.\u0000", "content": {}}',
    '{"event_type": "' + "t" * 256 + '", "content": {}}',
    '{"event_type": "a.b", "state_key": "' + "\u00e9" * 128 + '", "content": {}}',
    '{"event_type": "a.b", "content": {"big": "' + "x" * 65_536 + '"}}',
]

#: Unusual but valid items: each gets an event ID or ``null``, and the batch's
#: good item goes ahead (a 200), on SQLite and PostgreSQL alike.
ODD_ITEMS: list[str] = [
    r'{"event_type": "a.b", "content": {"s": "\u0000 nul \u200b zw \u202e rtl"}}',
    r'{"event_type": "a.b", "content": {"\u0000": "nul key"}}',
    r'{"event_type": "a.b", "content": {"s": "\uffff\ufffe\ufeff\ud83d\ude00"}}',
    r'{"event_type": "\u0645\u0631\u062d\u0628\u0627", "content": {}}',
    '{"event_type": "a.b", "state_key": "' + "\U0001f600" * 63 + '", "content": {}}',
    '{"event_type": "a.b", "content": {"deep": ' + "[" * 90 + "]" * 90 + "}}",
    '{"event_type": "a.b", "content": {"many": [' + ",".join(["0"] * 30_000) + "]}}",
    '{"event_type": "a.b", "content": {"n": 9007199254740993}}',
    '{"event_type": "a.b", "content": {"n": ' + "9" * 4000 + "}}",
    '{"event_type": "a.b", "content": {"f": 1.5, "e": 1e-400, "z": -0.0}}',
    '{"event_type": "m.room.power_levels", "content": {"users": {"@x:test": 1e2}}}',
    '{"event_type": "m.room.create", "content": {}}',
    '{"event_type": "m.room.member", "state_key": "@nobody:test", "content": '
    '{"membership": "join"}}',
    '{"event_type": "m.room.canonical_alias", "content": {"alias": 5}}',
    '{"event_type": "m.room.redaction", "content": {"redacts": "$x"}}',
]

BAD_ROOM_IDS = ["not-a-room", "!", "!unknown:test", "@user:test", "%00", "#alias:test"]


class BadInputTestCase(ModuleTestCase):
    # Generous, so that every request of a sweep is served.
    module_settings = {
        "msc3192": {"rate_limit": {"per_second": 100, "burst_count": 1000}}
    }

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

    def count_events(self) -> int:
        rows = self.get_success(
            self.hs.get_datastores().main.db_pool.simple_select_list(
                "events", {"room_id": self.room_id}, ["event_id"]
            )
        )
        return len(rows)

    def batch_with(self, index: int, bad_item: str, prefix: str) -> FakeChannel:
        good = f'{{"event_type": "org.example.good", "state_key": "{prefix}{index}",'
        body = f'[{good} "content": {{}}}}, {bad_item}]'.encode()
        path = BATCH.format(room=quote(self.room_id), txn=f"{prefix}{index}")
        return self.send("PUT", path, body)

    def test_batch_state_refused_items_write_nothing(self) -> None:
        count = self.count_events()
        for index, bad_item in enumerate(REFUSED_ITEMS):
            channel = self.batch_with(index, bad_item, "refused")
            what = f"{index}: {bad_item[:60]}"
            self.assertEqual(channel.code, 400, f"{what}: {channel.result}")
            self.assert_matrix_error(channel, what)
            self.assertIn("Item 1", channel.json_body["error"], what)
        self.assertEqual(self.count_events(), count)

    def test_batch_state_odd_items_never_get_a_500(self) -> None:
        for index, odd_item in enumerate(ODD_ITEMS):
            channel = self.batch_with(index, odd_item, "odd")
            what = f"{index}: {odd_item[:60]}"
            # The good item goes ahead whatever becomes of the odd one.
            self.assertEqual(channel.code, HTTPStatus.OK, f"{what}: {channel.result}")
            good_id, _ = json.loads(channel.result["body"])
            self.assertIsInstance(good_id, str, what)

    def test_redaction_item_in_a_room_version_before_11_fails_alone(self) -> None:
        # Before room version 11 ``redacts`` is beside the content, where no item
        # can put it; such rooms are the default of Synapse before 1.158.0.
        self.room_id = self.helper.create_room_as(
            self.helper.auth_user_id or "@admin:test",
            tok=self.admin_token,
            room_version="10",
        )
        redaction = ODD_ITEMS[-1]
        self.assertIn("m.room.redaction", redaction)
        channel = self.batch_with(0, redaction, "v10")
        self.assertEqual(channel.code, HTTPStatus.OK, channel.result)
        good_id, redaction_id = json.loads(channel.result["body"])
        self.assertIsInstance(good_id, str)
        self.assertIsNone(redaction_id)

        path = BATCH.format(room=quote(self.room_id), txn="v10-alone")
        channel = self.send("PUT", path, f"[{redaction}]".encode())
        self.assertEqual(channel.code, 400, channel.result)
        self.assertEqual(channel.json_body["errcode"], "M_BAD_JSON")

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

    def test_send_pdu_bad_bodies(self) -> None:
        for index, body in enumerate([*BAD_BODIES, b'{"x": "' + b"y" * 70000 + b'"}']):
            path = SEND_PDU.format(room=quote(self.room_id), txn=f"bad{index}")
            self.assert_matrix_error(self.send("PUT", path, body), repr(body[:40]))

    def test_make_and_send_pdu_bad_room_ids_and_queries(self) -> None:
        pdu = b'{"type": "m.room.message", "content": {}}'
        for index, room in enumerate(BAD_ROOM_IDS):
            make = MAKE_PDU.format(room=quote(room), type="m.room.message")
            self.assert_matrix_error(self.send("GET", make, b""), room)
            send = SEND_PDU.format(room=quote(room), txn=f"room{index}")
            self.assert_matrix_error(self.send("PUT", send, pdu), room)
        for query in BAD_PDU_QUERIES:
            make = MAKE_PDU.format(room=quote(self.room_id), type="m.room.member")
            self.assert_matrix_error(self.send("GET", f"{make}?{query}", b""), query)
        for query in BAD_PDU_QUERIES:
            make = MAKE_PDU.format(room=quote("!unknown:test"), type="m.room.topic")
            self.assert_matrix_error(self.send("GET", f"{make}?{query}", b""), query)
            send = SEND_PDU.format(room=quote("!unknown:test"), txn=quote(query))
            self.assert_matrix_error(self.send("PUT", f"{send}?{query}", pdu), query)
        for event_type in ("", "x" * 300):
            make = MAKE_PDU.format(room=quote(self.room_id), type=event_type)
            self.assert_matrix_error(self.send("GET", make, b""), event_type)

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

    def default_config(self) -> JsonDict:
        config: JsonDict = super().default_config()
        # Sweeps of many requests from one origin: Synapse's federation rate limiter
        # would delay them by seconds of the harness's clock, past the ten seconds
        # for which the harness's key of the remote server is valid.
        config["rc_federation"] = {
            "sleep_limit": 1000,
            "reject_limit": 1000,
            "concurrent": 1000,
        }
        return config

    def test_federation_endpoints_bad_paths(self) -> None:
        paths = [
            "/_matrix/federation/v1/event/%24nothing",
            "/_matrix/federation/v1/event/not-an-event",
            "/_matrix/federation/v1/event_auth/not-a-room/%24nothing",
            "/_matrix/federation/v1/event_auth/!unknown:test/%24nothing",
            "/_matrix/federation/v1/hierarchy/not-a-room",
            "/_matrix/federation/v1/hierarchy/!unknown:test?suggested_only=maybe",
        ]
        paths += [
            f"{FED_PDU}/make_pdu/not-a-room",
            f"{FED_PDU}/make_pdu/!unknown:test?event_type=m.room.member",
            f"{FED_PDU}/make_pdu/!unknown:test?event_type=x&user_id=not-a-user",
            f"{FED_PDU}/make_pdu/!unknown:test?event_type=x&user_id=@u:test&ver=",
        ]
        for path in paths:
            channel = self.make_signed_federation_request("GET", path)
            # Stock Synapse answers an unknown /event with 404 and an empty body,
            # which the module keeps for events it has no obligation about; the
            # status is what must never be a 5xx.
            self.assertGreaterEqual(channel.code, 400, path)
            self.assertLess(channel.code, 500, f"{path}: {channel.result}")

    def test_federation_send_pdu_bad_bodies(self) -> None:
        bodies: list[object] = [
            {},
            {"sender": 1},
            {"sender": "@u:other.example.com"},
            {"sender": "@u:other.example.com", "room_id": "!unknown:test"},
            {"sender": "not-a-user", "room_id": "!unknown:test"},
            {
                "sender": "@u:other.example.com",
                "room_id": "!unknown:test",
                "depth": "x",
            },
        ]
        for body in bodies:
            channel = self.make_signed_federation_request(
                "PUT", f"{FED_PDU}/send_pdu/!unknown:test", body
            )
            self.assertGreaterEqual(channel.code, 400, body)
            self.assertLess(channel.code, 500, f"{body}: {channel.result}")
            self.assertIn("errcode", channel.json_body, body)

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
