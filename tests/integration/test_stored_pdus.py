"""Many stored events as PDU JSON (``_synapse_private.stored_pdus``, what the
MSC2314 ``/state`` serves): the same PDUs Synapse's own ``/state`` would serve for
them, whether Synapse's event cache holds them or not, without filling that cache,
and with Synapse's rules for redacted, rejected, unknown and corrupted events."""

import json
from typing import Any
from unittest.mock import patch
from urllib.parse import quote

from synapse.events import make_event_from_dict
from synapse.federation.units import serialize_and_filter_pdus
from synapse.server import HomeServer
from synapse.storage.databases.main.events_worker import DatabaseCorruptionError
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet.testing import MemoryReactor

from msc_extensions._synapse_private.stored_pdus import PduJson, StoredPdus
from tests.integration.harness import ModuleTestCase


class StoredPdusTestCase(ModuleTestCase):
    room_version = "10"

    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self.store: Any = hs.get_datastores().main
        self.alice, self.token = self.register_member("alice")
        self.room_id = self.helper.create_room_as(
            self.alice, tok=self.token, room_version=self.room_version
        )
        self.state_ids = [self.send_state(f"key{i}", {"number": i}) for i in range(6)]

    def send_state(self, state_key: str, content: JsonDict) -> str:
        sent = self.helper.send_state(
            self.room_id, "org.example.thing", content, self.token, state_key=state_key
        )
        event_id: str = sent["event_id"]
        return event_id

    def current_state_ids(self) -> list[str]:
        state = self.get_success(
            self.hs.get_storage_controllers().state.get_current_state_ids(self.room_id)
        )
        return list(state.values())

    def forget_cached_events(self) -> None:
        self.store._get_event_cache.clear()
        self.store._event_ref.clear()

    def is_cached(self, event_id: str) -> bool:
        return bool(
            self.get_success(
                self.store._get_events_from_cache([event_id], update_metrics=False)
            )
        )

    def read(self, event_ids: list[str]) -> PduJson:
        read: PduJson = self.get_success(StoredPdus(self.hs).read(event_ids))
        return read

    def synapse_pdus(self, event_ids: list[str]) -> dict[str, JsonDict]:
        """What Synapse's ``/state`` serves for these events."""
        events = self.get_success(self.store.get_events_as_list(event_ids))
        # As sent: through JSON.
        pdus = json.loads(json.dumps(serialize_and_filter_pdus(events)))
        return {event.event_id: pdu for event, pdu in zip(events, pdus, strict=True)}

    def assert_served_as_synapse_serves(self, event_ids: list[str]) -> PduJson:
        read = self.read(event_ids)
        served = {event_id: json.loads(pdu) for event_id, pdu in read.pdus.items()}
        self.assertEqual(served, self.synapse_pdus(event_ids))
        return read

    def test_uncached_events_are_served_as_synapse_serves_them(self) -> None:
        event_ids = self.current_state_ids()
        self.forget_cached_events()
        read = self.read(event_ids)
        # Read from their rows, and left out of Synapse's event cache.
        self.assertFalse(any(self.is_cached(event_id) for event_id in event_ids))
        self.assertEqual(list(read.pdus), event_ids)
        served = {event_id: json.loads(pdu) for event_id, pdu in read.pdus.items()}
        self.assertEqual(served, self.synapse_pdus(event_ids))
        expected_auth = {
            auth_id
            for event in self.get_success(self.store.get_events_as_list(event_ids))
            for auth_id in event.auth_event_ids()
        }
        self.assertEqual(read.auth_event_ids, expected_auth)

    def test_plain_rows_are_served_without_making_events(self) -> None:
        event_ids = self.current_state_ids()
        self.forget_cached_events()
        with patch(
            "msc_extensions._synapse_private.stored_pdus.make_event_from_dict",
            side_effect=AssertionError("made an event"),
        ):
            read = self.read(event_ids)
        self.assertEqual(list(read.pdus), event_ids)
        self.assertFalse(any(self.is_cached(event_id) for event_id in event_ids))
        self.assert_served_as_synapse_serves(event_ids)

    def edit_row(self, event_id: str, edit: Any) -> None:
        row = self.get_success(
            self.store.db_pool.simple_select_one_onecol(
                "event_json", {"event_id": event_id}, "json"
            )
        )
        event = json.loads(row)
        edit(event)
        self.get_success(
            self.store.db_pool.simple_update_one(
                "event_json", {"event_id": event_id}, {"json": json.dumps(event)}
            )
        )
        self.forget_cached_events()

    def test_rows_with_other_unsigned_fields_are_served_as_synapse_serves_them(
        self,
    ) -> None:
        # As an older release may have stored them.
        edited = self.state_ids[3]
        self.edit_row(edited, lambda e: e["unsigned"].update(prev_content={"a": 1}))
        self.assert_served_as_synapse_serves([edited, self.state_ids[0]])

    def test_fields_another_server_added_are_served_as_synapse_serves_them(
        self,
    ) -> None:
        # A top-level field the redaction algorithm drops: the event's ID stays.
        edited = self.state_ids[3]
        self.edit_row(edited, lambda e: e.update({"org.example.extra": [1, 2]}))
        read = self.assert_served_as_synapse_serves([edited])
        self.assertEqual(json.loads(read.pdus[edited])["org.example.extra"], [1, 2])

    def test_cached_and_uncached_events_together_keep_their_order(self) -> None:
        event_ids = self.current_state_ids()
        self.forget_cached_events()
        # Every other event in the cache.
        self.get_success(self.store.get_events_as_list(event_ids[::2]))
        with (
            patch("msc_extensions._synapse_private.stored_pdus.EVENTS_PER_READ", 3),
            patch(
                "msc_extensions._synapse_private.stored_pdus.EVENTS_PER_SYNAPSE_READ", 1
            ),
        ):
            read = self.assert_served_as_synapse_serves(event_ids)
        self.assertEqual(list(read.pdus), event_ids)

    def test_a_redacted_event_is_served_redacted(self) -> None:
        redacted = self.state_ids[2]
        code, body = self.request_json(
            "PUT",
            f"/_matrix/client/v3/rooms/{self.room_id}/redact/{quote(redacted, safe='')}/txn1",
            {},
            access_token=self.token,
        )
        self.assertEqual(code, 200, body)
        self.forget_cached_events()
        read = self.assert_served_as_synapse_serves([redacted, self.state_ids[3]])
        self.assertEqual(json.loads(read.pdus[redacted])["content"], {})
        self.assertEqual(
            json.loads(read.pdus[self.state_ids[3]])["content"], {"number": 3}
        )

    def test_rejected_and_unknown_events_are_left_out(self) -> None:
        rejected = self.state_ids[1]
        self.get_success(
            self.store.db_pool.simple_insert(
                "rejections",
                {"event_id": rejected, "reason": "test", "last_check": "0"},
            )
        )
        self.forget_cached_events()
        read = self.read([rejected, "$unknown", self.state_ids[0]])
        self.assertEqual(list(read.pdus), [self.state_ids[0]])

    def test_a_row_changed_in_the_database_fails_as_in_synapse(self) -> None:
        changed = self.state_ids[4]
        # A field the event's ID is hashed from.
        self.edit_row(changed, lambda e: e.update(origin_server_ts=1))
        self.get_failure(
            self.store.get_events_as_list([changed]), DatabaseCorruptionError
        )
        self.forget_cached_events()
        self.get_failure(
            StoredPdus(self.hs).read([self.state_ids[0], changed]),
            DatabaseCorruptionError,
        )


class RoomVersion1TestCase(StoredPdusTestCase):
    """Event IDs chosen by their servers, not hashes: every row is made into an
    event, as Synapse makes it."""

    room_version = "1"

    def test_plain_rows_are_served_without_making_events(self) -> None:
        event_ids = self.current_state_ids()
        self.forget_cached_events()
        with patch(
            "msc_extensions._synapse_private.stored_pdus.make_event_from_dict",
            wraps=make_event_from_dict,
        ) as made:
            self.assert_served_as_synapse_serves(event_ids)
        self.assertEqual(made.call_count, len(event_ids))

    def test_a_row_changed_in_the_database_fails_as_in_synapse(self) -> None:
        # Nothing to check an ID against: served as changed, by Synapse too.
        changed = self.state_ids[4]
        self.edit_row(changed, lambda e: e.update(origin_server_ts=1))
        read = self.assert_served_as_synapse_serves([changed])
        self.assertEqual(json.loads(read.pdus[changed])["origin_server_ts"], 1)


class RoomVersion3TestCase(StoredPdusTestCase):
    """Event IDs in standard base64."""

    room_version = "3"


class RoomVersion12TestCase(StoredPdusTestCase):
    """Room IDs that are the hash of the create event (MSC4291)."""

    room_version = "12"
