"""Shared set-up for the MSC3192 batch state harness tests (no tests of its own)."""

import json
from typing import Any
from urllib.parse import quote

from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor

from tests.integration.harness import ModuleTestCase

BATCH_PREFIX = "/_matrix/client/unstable/org.matrix.msc3192"


def state_items(count: int, event_type: str = "org.example.setting") -> list[JsonDict]:
    return [
        {"event_type": event_type, "state_key": f"key{i}", "content": {"value": i}}
        for i in range(count)
    ]


class BatchStateTestCase(ModuleTestCase):
    """A room created by ``admin`` (power 100) with ``mod`` joined at power 0."""

    module_settings: JsonDict = {
        # Generous, so that only the rate-limit tests meet the limit.
        "msc3192": {"rate_limit": {"per_second": 100, "burst_count": 1000}},
        # Only the feature under test.
        "msc3895": {"enabled": False},
        "msc3902": {"enabled": False},
    }

    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self.store: Any = hs.get_datastores().main
        self.admin_id, self.admin_token = self.register_member("owner")
        self.mod_id, self.mod_token = self.register_member("mod")
        self.room_id = self.helper.create_room_as(self.admin_id, tok=self.admin_token)
        self.helper.join(self.room_id, self.mod_id, tok=self.mod_token)
        self._txn = 0

    def batch(
        self,
        body: Any,
        token: str | None = None,
        room_id: str | None = None,
        txn_id: str | None = None,
    ) -> tuple[int, Any]:
        if txn_id is None:
            self._txn += 1
            txn_id = f"txn{self._txn}"
        path = (
            f"{BATCH_PREFIX}/rooms/{quote(room_id or self.room_id)}"
            f"/batch_state/{quote(txn_id)}"
        )
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        channel = self.make_request(
            "PUT", path, raw, access_token=token or self.admin_token
        )
        return channel.code, json.loads(channel.result["body"])

    def state(self, event_type: str, state_key: str = "") -> JsonDict | None:
        """The current content for a key, or None when there is none."""
        code, body = self.request_json(
            "GET",
            f"/_matrix/client/v3/rooms/{quote(self.room_id)}/state/"
            f"{quote(event_type)}/{quote(state_key)}",
            access_token=self.admin_token,
        )
        if code == 404:
            return None
        self.assertEqual(code, 200, body)
        return dict(body)

    def state_event_id(self, event_type: str, state_key: str = "") -> str | None:
        state = self.get_success(
            self.hs.get_storage_controllers().state.get_current_state_ids(self.room_id)
        )
        event_id: str | None = state.get((event_type, state_key))
        return event_id

    def event_count(self) -> int:
        rows = self.get_success(
            self.store.db_pool.simple_select_list(
                "events", {"room_id": self.room_id}, ["event_id"]
            )
        )
        return len(rows)

    def power_levels(self) -> JsonDict:
        levels = self.state("m.room.power_levels")
        assert levels is not None
        return levels

    def set_user_power(self, user_id: str, level: int) -> None:
        levels = self.power_levels()
        levels["users"][user_id] = level
        self.helper.send_state(
            self.room_id, "m.room.power_levels", levels, tok=self.admin_token
        )
