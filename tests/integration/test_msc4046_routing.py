"""MSC4046 client endpoints for a room this server is not in: through the servers
named in ``server_name``, with Synapse's federation client answering as told."""

import json
from collections.abc import Callable
from typing import Any
from unittest.mock import AsyncMock, patch

from synapse.api.errors import HttpResponseException, RequestSendFailed
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor

from msc_extensions.partial_state.errcodes import UNSTABLE_ERRCODE
from tests.integration.test_msc4046_base import FEDERATION, Msc4046TestCase

REMOTE_ROOM = "!remote:elsewhere.example.com"
GOOD = "good.example.com"
REFUSING = "refusing.example.com"
DOWN = "down.example.com"
PARTIAL = "partial.example.com"


def matrix_error(code: int, errcode: str, **fields: Any) -> HttpResponseException:
    body = json.dumps({"errcode": errcode, "error": "remote says no", **fields})
    return HttpResponseException(code, "remote says no", body.encode())


class RoutingTests(Msc4046TestCase):
    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        super().prepare(reactor, clock, hs)
        client = hs.get_federation_http_client()
        for name, answer in (
            ("get_json", self.answer_make_pdu),
            ("put_json", self.answer_send_pdu),
        ):
            patcher = patch.object(client, name, AsyncMock(side_effect=answer))
            patcher.start()
            self.addCleanup(patcher.stop)
        self.fed_client: Any = client
        self.sent_to: list[str] = []

    def remote_template(self, user_id: str) -> JsonDict:
        return {
            "room_version": "10",
            "pdu": {
                "type": "m.room.message",
                "room_id": REMOTE_ROOM,
                "sender": user_id,
                "prev_events": ["$prev"],
                "auth_events": ["$create", "$levels", "$member"],
                "depth": 5,
                "origin_server_ts": 1000,
            },
        }

    async def answer_make_pdu(
        self, destination: str, path: str, args: dict[str, list[str]]
    ) -> Any:
        self.assertTrue(path.startswith(f"{FEDERATION}/make_pdu/"), path)
        return self.behaviour(
            destination, lambda: self.remote_template(args["user_id"][0])
        )

    async def answer_send_pdu(self, destination: str, path: str, data: JsonDict) -> Any:
        self.assertTrue(path.startswith(f"{FEDERATION}/send_pdu/"), path)
        self.assertIn(self.hs.hostname, data["signatures"])
        self.sent_to.append(destination)
        return self.behaviour(destination, dict)

    @staticmethod
    def behaviour(destination: str, success: Callable[[], Any]) -> Any:
        if destination == REFUSING:
            raise matrix_error(403, "M_FORBIDDEN")
        if destination == PARTIAL:
            raise matrix_error(403, UNSTABLE_ERRCODE)
        if destination == DOWN:
            raise RequestSendFailed(ConnectionRefusedError(), can_retry=True)
        return success()

    def test_the_first_template_wins(self) -> None:
        code, body = self.make_pdu(
            "m.room.message", room_id=REMOTE_ROOM, server_name=[REFUSING, DOWN, GOOD]
        )
        self.assertEqual(code, 200, body)
        self.assertEqual(body["pdu"]["sender"], self.owner_id)

    def test_remote_errors_keep_their_status_and_errcode(self) -> None:
        self.assert_error(
            self.make_pdu(
                "m.room.message", room_id=REMOTE_ROOM, server_name=[DOWN, REFUSING]
            ),
            403,
            "M_FORBIDDEN",
        )

    def test_unreachable_servers_give_502(self) -> None:
        body = self.assert_error(
            self.make_pdu("m.room.message", room_id=REMOTE_ROOM, server_name=[DOWN]),
            502,
            "M_UNKNOWN",
        )
        self.assertIn(DOWN, body["error"])

    def test_without_server_name_the_room_is_not_found(self) -> None:
        self.assert_error(
            self.make_pdu("m.room.message", room_id=REMOTE_ROOM), 404, "M_NOT_FOUND"
        )
        self.assert_error(
            self.send_pdu(
                {"sender": self.owner_id, "room_id": REMOTE_ROOM}, room_id=REMOTE_ROOM
            ),
            404,
            "M_NOT_FOUND",
        )

    def test_send_goes_to_the_server_that_gave_the_template_first(self) -> None:
        code, body = self.make_pdu(
            "m.room.message", room_id=REMOTE_ROOM, server_name=[GOOD]
        )
        self.assertEqual(code, 200, body)
        pdu = {**body["pdu"], "content": {"msgtype": "m.text", "body": "hi"}}
        # GOOD is not named again: this server remembers it.
        answer = self.send_pdu(pdu, room_id=REMOTE_ROOM, server_name=[PARTIAL, DOWN])
        self.assertEqual(answer, (200, {}))
        self.assertEqual(self.sent_to, [GOOD])

    def test_send_skips_partial_state_servers_and_keeps_remote_errors(self) -> None:
        code, body = self.make_pdu(
            "m.room.message", room_id=REMOTE_ROOM, server_name=[GOOD]
        )
        pdu = {**body["pdu"], "content": {"msgtype": "m.text", "body": "hi"}}

        async def refuse(destination: str, path: str, data: JsonDict) -> Any:
            self.sent_to.append(destination)
            return self.behaviour(
                REFUSING if destination == GOOD else destination, dict
            )

        self.fed_client.put_json.side_effect = refuse
        self.assert_error(
            self.send_pdu(pdu, room_id=REMOTE_ROOM, server_name=[PARTIAL, DOWN]),
            403,
            "M_FORBIDDEN",
        )
        self.assertEqual(self.sent_to, [GOOD, PARTIAL, DOWN])

    def test_sender_must_be_the_user_before_anything_is_sent(self) -> None:
        code, body = self.make_pdu(
            "m.room.message", room_id=REMOTE_ROOM, server_name=[GOOD]
        )
        pdu = {**body["pdu"], "content": {}, "sender": self.member_id}
        self.assert_error(
            self.send_pdu(pdu, room_id=REMOTE_ROOM, server_name=[GOOD]),
            403,
            "M_FORBIDDEN",
        )
        self.assertEqual(self.sent_to, [])


class ClientRateLimitTests(Msc4046TestCase):
    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["rc_message"] = {"per_second": 0.1, "burst_count": 2}
        return config

    def test_make_pdu_is_rate_limited_as_send_is(self) -> None:
        codes = [self.make_pdu("m.room.message")[0] for _ in range(3)]
        self.assertEqual(codes, [200, 200, 429])

    def test_send_pdu_is_rate_limited_as_send_is(self) -> None:
        self.reactor.advance(100)
        pdus = []
        for i in range(3):
            pdus.append(
                self.filled("m.room.message", {"msgtype": "m.text", "body": str(i)})
            )
            self.reactor.advance(20)
        # The templates are taken; the sends come in a burst.
        self.reactor.advance(100)
        codes = [self.send_pdu(pdu)[0] for pdu in pdus]
        self.assertEqual(codes, [200, 200, 429])
