"""MSC3895 point 5: as a client, the MSC3895 code from a remote means "ask the next
server", never "that server is down"."""

from unittest.mock import patch

from tests.integration.test_msc3902_fixture import PartialStateTestCase

THIRD = "third.example.com"


class PartialStateAnswerFromRemoteTestCase(PartialStateTestCase):
    module_settings = {"msc3902": {"resync_interval": "1m"}}

    def add_third_server(self) -> None:
        """``third.example.com`` is believed in the room (current membership)."""
        store = self.hs.get_datastores().main
        synapse_hosts = store.get_current_hosts_in_room

        async def current_hosts(room_id: str) -> frozenset[str]:
            return frozenset(await synapse_hosts(room_id)) | {THIRD}

        for name in ("invalidate", "invalidate_all", "prefill", "cache"):
            if hasattr(synapse_hosts, name):
                setattr(current_hosts, name, getattr(synapse_hosts, name))
        patcher = patch.object(store, "get_current_hosts_in_room", current_hosts)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_resync_moves_on_to_the_next_server_without_backing_off(self) -> None:
        self.join_partial()
        self.add_third_server()
        # The joined-via server is itself partial-state now; the third has it all.
        self.partial_state_servers = {self.OTHER_SERVER_NAME}
        self.answering = {THIRD}
        self.advance_ms(60_000 + 15_000)

        asked = [d for d, _ in self.state_requests]
        self.assertEqual(asked[-2:], [self.OTHER_SERVER_NAME, THIRD])
        self.assertFalse(self.is_partial())
        self.assertFalse(self.in_retry_backoff(self.OTHER_SERVER_NAME))

    def test_a_probe_answered_with_the_code_counts_as_up(self) -> None:
        self.join_partial()
        self.put_in_retry_backoff(self.OTHER_SERVER_NAME, 60 * 60_000)
        self.partial_state_servers = {self.OTHER_SERVER_NAME}
        self.advance_ms(60_000 + 15_000)
        self.assertIn(self.OTHER_SERVER_NAME, self.probes)
        # The resync was started (and asked the server), rather than the room
        # being recorded as "every server down".
        code, body = self.request_json(
            "GET",
            "/_synapse/admin/v1/msc_extensions/partial_state_rooms",
            access_token=self.admin_token,
        )
        (room,) = body["rooms"]
        self.assertNotIn("retry back-off", room["last_error"] or "")
