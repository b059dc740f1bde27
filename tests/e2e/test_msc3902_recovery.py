"""MSC3902 between two real federating homeservers: a resync that Synapse gave up
on completes once the resident server is reachable again, without restarting B;
and without the module's loop it does not."""

from urllib.parse import quote

from tests.e2e.homeserver import E2ETestCase
from tests.e2e.partial_state_scenario import (
    LOOP_DISABLED,
    MODULE_CONFIG,
    RESYNC_INTERVAL_S,
    start_partial_state_pair,
    time_to_full_state,
    wait_for_failed_retries,
)

MEMBERS = 40


class PartialStateRecoveryE2ETests(E2ETestCase):
    async def test_resync_completes_after_the_resident_server_returns(self) -> None:
        pair = await start_partial_state_pair(
            self, self.client, b_module_config=MODULE_CONFIG, members=MEMBERS
        )
        # While A is blocked, the loop retries once an interval has passed, and
        # fails again: the proxy still refuses state requests.
        refused = len(pair.proxy.refused)
        room = await wait_for_failed_retries(
            pair, self.client, attempts=2, timeout_s=8 * RESYNC_INTERVAL_S
        )
        self.assertGreater(len(pair.proxy.refused), refused)
        self.assertIn("502", room["last_error"])
        self.assertTrue(pair.b_is_partial())
        self.assertTrue(pair.b_backs_off_from_a())

        # A returns; B finishes within one interval of its last attempt.
        seconds = await time_to_full_state(pair, limit_s=4 * RESYNC_INTERVAL_S)
        self.assertIsNotNone(seconds, "B's room never reached full state")
        assert seconds is not None
        self.assertLessEqual(seconds, 2 * RESYNC_INTERVAL_S)
        self.assertEqual(pair.b_partial_state_rooms(), set())

        status, body = await self.client.get_json(
            pair.b.client_url
            + f"/_matrix/client/v3/rooms/{quote(pair.room_id)}/joined_members",
            access_token=pair.bob.access_token,
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body["joined"]), {*pair.a_members, pair.bob.user_id})

    async def test_a_server_that_was_down_is_found_when_it_returns_silently(
        self,
    ) -> None:
        pair = await start_partial_state_pair(
            self, self.client, b_module_config=MODULE_CONFIG, members=MEMBERS
        )
        pair.proxy.go_down()
        room = await wait_for_failed_retries(
            pair, self.client, attempts=3, timeout_s=10 * RESYNC_INTERVAL_S
        )
        self.assertIn("did not answer a probe", room["last_error"])
        # A returns and sends B nothing; the room's next attempt is far away.
        seconds = await time_to_full_state(
            pair, limit_s=6 * RESYNC_INTERVAL_S, talk=False
        )
        self.assertIsNotNone(seconds, "B's room never reached full state")
        assert seconds is not None
        self.assertLessEqual(seconds, 2 * RESYNC_INTERVAL_S)

    async def test_without_the_loop_the_room_stays_partial(self) -> None:
        pair = await start_partial_state_pair(
            self, self.client, b_module_config=LOOP_DISABLED, members=MEMBERS
        )
        seconds = await time_to_full_state(pair, limit_s=3 * RESYNC_INTERVAL_S)
        self.assertIsNone(seconds)
        self.assertTrue(pair.b_is_partial())
        # Synapse's back-off from A was lifted by A's transactions, but nothing
        # restarted the resync.
        self.assertFalse(pair.b_backs_off_from_a())
