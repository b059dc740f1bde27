"""MSC2314 point 5: the requesting side refuses every forged answer, and stores
nothing of it.

``other.example.com`` serves the fixture's room (events signed with its real key,
which this server trusts); each test forges one thing in its answers.
"""

from typing import Any
from unittest.mock import patch
from urllib.parse import quote, unquote

from signedjson.key import generate_signing_key
from synapse.api.errors import HttpResponseException
from synapse.crypto.event_signing import add_hashes_and_signatures
from synapse.events import EventBase, make_event_from_dict
from synapse.types import JsonDict

from msc_extensions._synapse_private.pdu_checks import EventChecks, RemoteStateClient
from msc_extensions.msc2314.fetching import CurrentStateFetcher
from msc_extensions.partial_state.errcodes import (
    UNSTABLE_ERRCODE,
    DestinationsExhausted,
)
from msc_extensions.partial_state.service import PartialStateService
from tests.integration.test_msc3902_fixture import PartialStateTestCase

UNSTABLE = "/_matrix/federation/unstable/org.matrix.msc2314"
V1 = "/_matrix/federation/v1"
BUSY = "busy.example.com"


class ServedRemoteRoomTestCase(PartialStateTestCase):
    """``other.example.com`` serves the fixture's room over a patched federation
    client: ``/state_ids`` and ``/state`` (current state when no event is named,
    ``state_before[event_id]`` otherwise) and ``/event``."""

    def prepare(self, *args: Any) -> None:
        super().prepare(*args)
        self.trust_server(self.OTHER_SERVER_NAME)
        self.quoted_room = quote(self.room_id, safe="")
        self.served_version = "10"
        self.state: list[EventBase] = list(self.timeline)
        self.auth_chain: list[EventBase] = [
            self.create,
            self.creator_join,
            self.power_levels,
            self.join_rules,
        ]
        self.state_before: dict[str, list[EventBase]] = {}
        self.extra_events: list[EventBase] = []
        self.pdu_overrides: dict[str, JsonDict] = {}
        self.unstable_known = True
        self.paths: list[str] = []
        http_client = self.hs.get_federation_http_client()
        patcher = patch.object(http_client, "get_json", side_effect=self._get_json)
        patcher.start()
        self.addCleanup(patcher.stop)

    def pdu(self, event: EventBase) -> JsonDict:
        return self.pdu_overrides.get(event.event_id, event.get_pdu_json())

    async def _get_json(
        self, destination: str, path: str, args: Any = None, **kw: Any
    ) -> JsonDict:
        self.paths.append(path)
        if destination == BUSY:
            raise HttpResponseException(
                403, "Forbidden", f'{{"errcode": "{UNSTABLE_ERRCODE}"}}'.encode()
            )
        if path.startswith(UNSTABLE) and not self.unstable_known:
            raise HttpResponseException(
                404, "Not Found", b'{"errcode":"M_UNRECOGNIZED"}'
            )
        state, auth_chain = self.state, self.auth_chain
        if args and args.get("event_id"):
            (at,) = args["event_id"]
            state = self.state_before[at]
            auth_chain = []
        for prefix in (UNSTABLE, V1):
            if path.startswith(prefix + "/state_ids/"):
                return {
                    "room_version": self.served_version,
                    "pdu_ids": [e.event_id for e in state],
                    "auth_chain_ids": [e.event_id for e in auth_chain],
                }
            if path.startswith(prefix + "/state/"):
                return {
                    "room_version": self.served_version,
                    "pdus": [self.pdu(e) for e in state],
                    "auth_chain": [self.pdu(e) for e in auth_chain],
                }
        if path.startswith(V1 + "/event/"):
            event_id = unquote(path[len(V1 + "/event/") :])
            for event in [*self.state, *self.auth_chain, *self.extra_events]:
                if event.event_id == event_id:
                    return {"pdus": [self.pdu(event)]}
        raise HttpResponseException(404, "Not Found", b'{"errcode":"M_NOT_FOUND"}')


class FetchingTests(ServedRemoteRoomTestCase):
    def prepare(self, *args: Any) -> None:
        super().prepare(*args)
        self.fetcher = CurrentStateFetcher(
            RemoteStateClient(self.hs),
            EventChecks(self.hs),
            PartialStateService(self.hs, UNSTABLE_ERRCODE),
        )

    # Forgeries.
    def signed_by_other(self, fields: JsonDict) -> EventBase:
        return self._event(fields)

    def assert_refused(self, *fragments: str) -> None:
        failure = self.get_failure(
            self.fetcher.fetch_current(self.room_id, [self.OTHER_SERVER_NAME]),
            DestinationsExhausted,
        )
        message = str(failure.value)
        for fragment in (self.OTHER_SERVER_NAME, *fragments):
            self.assertIn(fragment, message)
        self.assert_nothing_stored()

    def assert_nothing_stored(self) -> None:
        ids = [e.event_id for e in [*self.state, *self.auth_chain]]
        seen = self.get_success(self.store.have_seen_events(self.room_id, ids))
        self.assertEqual(seen, set())
        self.assertIsNone(self.get_success(self.store.get_room(self.room_id)))

    # The honest answer.
    def test_an_honest_answer_is_validated_and_returned(self) -> None:
        state = self.get_success(
            self.fetcher.fetch_current(self.room_id, [self.OTHER_SERVER_NAME])
        )
        self.assertEqual(state.server, self.OTHER_SERVER_NAME)
        self.assertEqual(state.room_version.identifier, "10")
        self.assertEqual(
            {e.event_id for e in state.state}, {e.event_id for e in self.timeline}
        )
        self.assertEqual(self.paths[0], f"{UNSTABLE}/state_ids/{self.quoted_room}")
        # Fetching stores nothing.
        self.assert_nothing_stored()

    def test_many_missing_events_come_in_one_state_answer(self) -> None:
        with patch("msc_extensions.msc2314.fetching.MAX_SINGLE_FETCHES", 2):
            state = self.get_success(
                self.fetcher.fetch_current(self.room_id, [self.OTHER_SERVER_NAME])
            )
        self.assertEqual(len(state.state), len(self.timeline))
        self.assertIn(f"{UNSTABLE}/state/{self.quoted_room}", self.paths)
        self.assertFalse(any("/event/" in p for p in self.paths))

    def test_a_server_without_the_unstable_path_is_asked_at_v1(self) -> None:
        self.unstable_known = False
        self.get_success(
            self.fetcher.fetch_current(self.room_id, [self.OTHER_SERVER_NAME])
        )
        self.assertIn(f"{V1}/state_ids/{self.quoted_room}", self.paths)

    def test_a_partial_state_server_is_passed_over(self) -> None:
        state = self.get_success(
            self.fetcher.fetch_current(self.room_id, [BUSY, self.OTHER_SERVER_NAME])
        )
        self.assertEqual(state.server, self.OTHER_SERVER_NAME)

    # Each forgery is refused, naming the server and the event.
    def test_a_wrong_room_version_is_refused(self) -> None:
        self.served_version = "9"
        self.assert_refused("m.room.create says 10", self.create.event_id)

    def test_an_unknown_room_version_is_refused(self) -> None:
        self.served_version = "no-such-version"
        self.assert_refused("unknown room version")

    def test_an_event_from_another_room_is_refused(self) -> None:
        stranger = self.signed_by_other(
            {
                "room_id": "!elsewhere:other.example.com",
                "type": "m.room.topic",
                "state_key": "",
                "sender": self.creator,
                "content": {"topic": "elsewhere"},
                "auth_events": [self.create.event_id],
            }
        )
        self.state.append(stranger)
        self.assert_refused("another room", stranger.event_id)

    def test_a_bad_signature_is_refused(self) -> None:
        fields = {
            "room_id": self.room_id,
            "type": "m.room.topic",
            "state_key": "",
            "sender": self.creator,
            "content": {"topic": "forged"},
            "auth_events": [
                self.create.event_id,
                self.creator_join.event_id,
                self.power_levels.event_id,
            ],
            "prev_events": [self.timeline[-1].event_id],
            "depth": 100,
            "origin_server_ts": self.clock.time_msec(),
        }
        forged_key = generate_signing_key(self.OTHER_SERVER_SIGNATURE_KEY.version)
        add_hashes_and_signatures(
            self.room_version, fields, self.OTHER_SERVER_NAME, forged_key
        )
        forged = make_event_from_dict(fields, self.room_version)
        self.state.append(forged)
        self.assert_refused("signature", forged.event_id)

    def test_a_bad_content_hash_is_refused(self) -> None:
        victim = self.state[-1]
        altered = victim.get_pdu_json()
        altered["content"] = {**altered["content"], "displayname": "Mallory"}
        # The event ID covers only the redacted form: it is unchanged.
        self.assertEqual(
            make_event_from_dict(altered, self.room_version).event_id, victim.event_id
        )
        self.pdu_overrides[victim.event_id] = altered
        self.assert_refused("content hash", victim.event_id)

    def test_a_missing_auth_event_is_refused(self) -> None:
        self.state.remove(self.join_rules)
        self.auth_chain.remove(self.join_rules)
        self.assert_refused(f"auth event {self.join_rules.event_id} is missing")

    def test_a_state_event_failing_auth_is_refused(self) -> None:
        member = self.members[1]
        member_join = next(e for e in self.timeline if e.state_key == member)
        topic = self.signed_by_other(
            {
                "type": "m.room.topic",
                "state_key": "",
                "sender": member,
                "content": {"topic": "members may not set this"},
                "auth_events": [
                    self.create.event_id,
                    self.power_levels.event_id,
                    member_join.event_id,
                ],
            }
        )
        self.state.append(topic)
        self.assert_refused("fails the auth rules", topic.event_id)
