"""Shared set-up for the MSC4046 harness tests (no tests of its own)."""

import hashlib
import json
from typing import Any
from urllib.parse import quote, urlencode

from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.crypto.event_signing import (
    compute_content_hash,
    compute_event_reference_hash,
)
from synapse.events import make_event_from_dict
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor
from unpaddedbase64 import encode_base64

from tests.integration.harness import ModuleTestCase

CLIENT = "/_matrix/client/unstable/org.matrix.msc4046"
FEDERATION = "/_matrix/federation/unstable/org.matrix.msc4046"


def with_hashes(pdu: JsonDict) -> JsonDict:
    """``pdu`` with its content hash, as a careful client adds it."""
    pdu = {k: v for k, v in pdu.items() if k not in ("hashes", "signatures")}
    name, digest = compute_content_hash(pdu, hashlib.sha256)
    return {**pdu, "hashes": {name: encode_base64(digest)}}


def event_id_of(pdu: JsonDict, room_version: str) -> str:
    """The event ID the server will give ``pdu`` (room versions 3 and later)."""
    pdu = with_hashes(pdu)
    event = make_event_from_dict(pdu, KNOWN_ROOM_VERSIONS[room_version])
    _, digest = compute_event_reference_hash(event)
    return "$" + encode_base64(digest, urlsafe=True)


class Msc4046TestCase(ModuleTestCase):
    """A private room created by ``owner`` (power 100) with ``member`` joined at
    power 0, and ``outsider`` not in it."""

    module_settings: JsonDict = {
        # Only the feature under test.
        "msc3895": {"enabled": False},
        "msc3902": {"enabled": False},
    }

    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["rc_message"] = {"per_second": 1000, "burst_count": 1000}
        return config

    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        super().prepare(reactor, clock, hs)
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self.store: Any = hs.get_datastores().main
        self.owner_id, self.owner_token = self.register_member("owner")
        self.member_id, self.member_token = self.register_member("member")
        self.outsider_id, self.outsider_token = self.register_member("outsider")
        self.room_id = self.helper.create_room_as(
            self.owner_id, tok=self.owner_token, is_public=False
        )
        self.helper.invite(
            self.room_id, self.owner_id, self.member_id, tok=self.owner_token
        )
        self.helper.join(self.room_id, self.member_id, tok=self.member_token)
        self._txn = 0

    # Client endpoints.
    def make_pdu(
        self,
        event_type: str,
        token: str | None = None,
        room_id: str | None = None,
        **params: Any,
    ) -> tuple[int, Any]:
        query = urlencode(params, doseq=True)
        path = (
            f"{CLIENT}/room/{quote(room_id or self.room_id)}/make_pdu/"
            f"{quote(event_type, safe='')}" + (f"?{query}" if query else "")
        )
        return self.request_json("GET", path, access_token=token or self.owner_token)

    def send_pdu(
        self,
        pdu: Any,
        token: str | None = None,
        room_id: str | None = None,
        txn_id: str | None = None,
        **params: Any,
    ) -> tuple[int, Any]:
        if txn_id is None:
            self._txn += 1
            txn_id = f"txn{self._txn}"
        query = urlencode(params, doseq=True)
        path = (
            f"{CLIENT}/room/{quote(room_id or self.room_id)}/send_pdu/{quote(txn_id)}"
            + (f"?{query}" if query else "")
        )
        raw = pdu if isinstance(pdu, bytes) else json.dumps(pdu).encode()
        channel = self.make_request(
            "PUT", path, raw, access_token=token or self.owner_token
        )
        return channel.code, channel.json_body if channel.result.get("body") else None

    def template(
        self, event_type: str, token: str | None = None, **params: Any
    ) -> JsonDict:
        code, body = self.make_pdu(event_type, token, **params)
        self.assertEqual(code, 200, body)
        self.room_version = body["room_version"]
        return dict(body["pdu"])

    def filled(
        self,
        event_type: str,
        content: JsonDict,
        token: str | None = None,
        **params: Any,
    ) -> JsonDict:
        """A template of ``event_type`` with ``content``."""
        return {**self.template(event_type, token, **params), "content": content}

    def event_ids_in_room(self) -> set[str]:
        rows = self.get_success(
            self.store.db_pool.simple_select_list(
                "events", {"room_id": self.room_id}, ["event_id"], desc="test"
            )
        )
        return {row[0] for row in rows}

    def assert_error(
        self, answer: tuple[int, Any], status: int, errcode: str
    ) -> JsonDict:
        code, body = answer
        self.assertEqual(code, status, body)
        self.assertEqual(body["errcode"], errcode, body)
        return dict(body)

    # Federation endpoints, signed by OTHER_SERVER_NAME.
    def federation(
        self, method: str, path: str, content: Any = None
    ) -> tuple[int, Any]:
        channel = self.make_signed_federation_request(method, path, content)
        return channel.code, channel.json_body if channel.result.get("body") else None
