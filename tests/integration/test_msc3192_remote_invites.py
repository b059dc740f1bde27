"""MSC3192: invites of users on other servers in a batch, with those servers
played by fakes at Synapse's federation transport (so that Synapse's own
``send_invite`` runs: its request body, its check of the answer's signatures and
hashes, its errors). Profiles are asked with Synapse's ``make_query``, faked too."""

import json
from itertools import pairwise
from typing import Any
from unittest.mock import patch
from urllib.parse import quote

from signedjson.key import generate_signing_key
from synapse.api.errors import HttpResponseException, RequestSendFailed
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.crypto.event_signing import compute_event_signature
from synapse.logging.context import make_deferred_yieldable
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet import defer
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactor

from msc_extensions._synapse_private.compat import signatures_of
from tests.integration.test_msc3192_base import BATCH_PREFIX, BatchStateTestCase

SIGNING_KEY = generate_signing_key("fake")


def invite(user_id: str) -> JsonDict:
    return {
        "event_type": "m.room.member",
        "state_key": user_id,
        "content": {"membership": "invite"},
    }


class FakeRemoteServers:
    """Other servers as Synapse's federation transport meets them: each answers
    ``PUT /invite`` with the event signed by its key after ``latency`` seconds,
    unless told to refuse, to be unreachable, or never to answer."""

    def __init__(self, reactor: MemoryReactor) -> None:
        self._reactor = reactor
        self.latency = 0.0
        #: (destination, event ID, the event as sent) of every invite asked for.
        self.asked: list[tuple[str, str, JsonDict]] = []
        self.refusing: set[str] = set()
        self.unreachable: set[str] = set()
        self.silent: set[str] = set()
        self.in_flight = 0
        self.most_in_flight = 0
        #: (destination, user ID) of every profile query.
        self.profile_queries: list[tuple[str, str]] = []
        #: Servers that refuse profile queries, and those whose users have no avatar.
        self.profiles_refused: set[str] = set()
        self.without_avatars: set[str] = set()

    async def send_invite_v2(
        self, destination: str, room_id: str, event_id: str, content: JsonDict
    ) -> JsonDict:
        event = content["event"]
        self.asked.append((destination, event_id, content))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if destination in self.silent:
                never: defer.Deferred[None] = defer.Deferred()
                await make_deferred_yieldable(never)
            if self.latency:
                await make_deferred_yieldable(
                    deferLater(self._reactor, self.latency, lambda: None)  # type: ignore[arg-type]
                )
            if destination in self.unreachable:
                raise RequestSendFailed(ConnectionRefusedError(), can_retry=True)
            if destination in self.refusing:
                raise HttpResponseException(
                    403,
                    "Forbidden",
                    json.dumps(
                        {"errcode": "M_FORBIDDEN", "error": "invites refused"}
                    ).encode(),
                )
            version = KNOWN_ROOM_VERSIONS[content["room_version"]]
            signature = compute_event_signature(
                version, event, destination, SIGNING_KEY
            )
            return {
                "event": {
                    **event,
                    "signatures": {**event["signatures"], **signature},
                }
            }
        finally:
            self.in_flight -= 1

    async def make_query(
        self, destination: str, query_type: str, args: JsonDict, **kwargs: Any
    ) -> JsonDict:
        """A profile query: each user has a display name and an avatar; a query
        for one ``field`` gets that field only."""
        user_id = args["user_id"]
        self.profile_queries.append((destination, user_id))
        if destination in self.unreachable:
            raise RequestSendFailed(ConnectionRefusedError(), can_retry=True)
        if destination in self.profiles_refused:
            raise HttpResponseException(
                403,
                "Forbidden",
                json.dumps({"errcode": "M_FORBIDDEN", "error": "no lookups"}).encode(),
            )
        profile = {"displayname": f"name of {user_id}"}
        if destination not in self.without_avatars:
            profile["avatar_url"] = f"mxc://{destination}/avatar"
        field = args.get("field")
        return {k: v for k, v in profile.items() if field in (None, k)}


class RemoteInvitesBase(BatchStateTestCase):
    """Fakes for the other servers (no tests of its own)."""

    module_settings: JsonDict = {
        **BatchStateTestCase.module_settings,
        "msc3192": {
            "rate_limit": {"per_second": 100, "burst_count": 1000},
            "remote_invites": {"concurrency": 3, "timeout": "5s"},
        },
    }

    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        super().prepare(reactor, clock, hs)
        self.remote = FakeRemoteServers(reactor)
        transport = hs.get_federation_transport_client()
        for patched in (
            patch.object(transport, "send_invite_v2", self.remote.send_invite_v2),
            patch.object(
                hs.get_federation_client(), "make_query", self.remote.make_query
            ),
        ):
            patched.start()
            self.addCleanup(patched.stop)

    def send_batch(self, body: Any, txn_id: str) -> tuple[int, Any]:
        """As :meth:`batch`, waiting up to a minute of the fake clock."""
        channel = self.make_request(
            "PUT",
            f"{BATCH_PREFIX}/rooms/{quote(self.room_id)}/batch_state/{txn_id}",
            json.dumps(body).encode(),
            access_token=self.admin_token,
            await_result=False,
        )
        channel.await_result(timeout_ms=60_000)
        return channel.code, json.loads(channel.result["body"])

    def membership(self, user_id: str) -> str | None:
        state = self.state("m.room.member", user_id)
        return None if state is None else state["membership"]

    def room_events(self) -> list[Any]:
        """The room's events, in the order they were persisted."""
        rows = self.get_success(
            self.store.db_pool.simple_select_list(
                "events",
                {"room_id": self.room_id},
                ["event_id", "stream_ordering"],
            )
        )
        ordered = [event_id for event_id, _ in sorted(rows, key=lambda r: r[1])]
        return list(self.get_success(self.store.get_events_as_list(ordered)))


class RemoteInvitesTestCase(RemoteInvitesBase):
    def test_invites_are_signed_in_parallel_and_persisted_in_order(self) -> None:
        self.remote.latency = 1.0
        local, _ = self.register_member("lola")
        remotes = [f"@guest{i}:remote{i % 2}.example" for i in range(8)]
        items = [invite(remotes[0]), invite(local), *map(invite, remotes[1:])]
        before = self.clock.time()
        code, ids = self.send_batch(items, "parallel")
        took = self.clock.time() - before
        self.assertEqual(code, 200, ids)
        self.assertTrue(all(ids), ids)
        # Three at once (the configured bound), so eight take three rounds of a
        # second, not eight.
        self.assertEqual(self.remote.most_in_flight, 3)
        self.assertLess(took, 4.5)
        # Each invitee's server was asked once, and not again at persist time;
        # and asked once for the invitee's whole profile.
        self.assertEqual(
            sorted(event_id for _, event_id, _ in self.remote.asked),
            sorted(ids[:1] + ids[2:]),
        )
        self.assertEqual(
            sorted(user_id for _, user_id in self.remote.profile_queries),
            sorted(remotes),
        )
        # In request order, one chain, each carrying its invitee's signature.
        events = self.room_events()
        batch_events = events[-len(items) :]
        self.assertEqual([e.event_id for e in batch_events], ids)
        for previous, event in pairwise(batch_events):
            self.assertEqual(event.prev_event_ids(), [previous.event_id])
        for user_id, event in zip(
            [remotes[0], local, *remotes[1:]], batch_events, strict=True
        ):
            self.assertEqual(self.membership(user_id), "invite")
            server = user_id.split(":", 1)[1]
            if server != "test":
                self.assertIn(server, signatures_of(event))
                self.assertEqual(event.content["displayname"], f"name of {user_id}")
                self.assertEqual(event.content["avatar_url"], f"mxc://{server}/avatar")

    def test_a_refusing_server_gives_null_for_its_invitees_only(self) -> None:
        self.remote.refusing.add("no.example")
        self.remote.unreachable.add("down.example")
        local, _ = self.register_member("lena")
        items = [
            invite("@a:yes.example"),
            invite("@b:no.example"),
            invite(local),
            invite("@c:down.example"),
            # Not shown to invitees, so the chain need not be stored before d.
            {"event_type": "org.example.note", "content": {"n": 1}},
            invite("@d:yes.example"),
        ]
        events_before = len(self.room_events())
        code, body = self.send_batch(items, "refused")
        self.assertEqual(code, 200, body)
        self.assertEqual(
            [i is None for i in body], [False, True, False, True] + [False] * 2
        )
        code, body = self.send_batch(
            [invite("@e:no.example"), invite("@f:down.example")], "all-refused"
        )
        # No item sent: the first error that is not a 403 gives the status.
        self.assertEqual(code, 400, body)
        errors = {e["index"]: e for e in body["org.matrix.msc3192.errors"]}
        self.assertEqual(errors[0]["errcode"], "M_FORBIDDEN")
        self.assertIn("invites refused", errors[0]["error"])
        self.assertEqual(errors[1]["errcode"], "M_UNKNOWN")
        self.assertIn("Can't connect to server down.example", errors[1]["error"])

        for user_id in ("@b:no.example", "@c:down.example", "@e:no.example"):
            self.assertIsNone(self.membership(user_id), user_id)
        for user_id in ("@a:yes.example", local, "@d:yes.example"):
            self.assertEqual(self.membership(user_id), "invite", user_id)
        self.assertEqual(self.state("org.example.note"), {"n": 1})
        # Nothing of the refused invites is stored: four new events, in order,
        # one chain.
        events = self.room_events()[events_before:]
        self.assertEqual(
            [(e.type, e.state_key) for e in events],
            [
                ("m.room.member", "@a:yes.example"),
                ("m.room.member", local),
                ("org.example.note", ""),
                ("m.room.member", "@d:yes.example"),
            ],
        )
        for previous, event in pairwise(events):
            self.assertEqual(event.prev_event_ids(), [previous.event_id])
        # The invite built after the refused one was built again, and its server
        # asked to sign the new event: the one persisted carries its signature.
        asked_d = [eid for dest, eid, c in self.remote.asked if "@d:" in json.dumps(c)]
        self.assertEqual(len(asked_d), 2)
        self.assertEqual(asked_d[-1], events[-1].event_id)
        self.assertIn("yes.example", signatures_of(events[-1]))

    def test_invites_carry_what_the_profile_query_gave(self) -> None:
        self.remote.profiles_refused.add("private.example")
        self.remote.without_avatars.add("plain.example")
        invitees = ["@p:private.example", "@q:plain.example"]
        code, ids = self.send_batch(list(map(invite, invitees)), "profiles")
        self.assertEqual(code, 200, ids)
        self.assertTrue(all(ids), ids)
        # A refused profile query costs the invite nothing but the profile; a
        # field the server does not give is left out.
        self.assertEqual(
            self.state("m.room.member", "@p:private.example"), {"membership": "invite"}
        )
        self.assertEqual(
            self.state("m.room.member", "@q:plain.example"),
            {"membership": "invite", "displayname": "name of @q:plain.example"},
        )
        self.assertEqual(
            sorted(user_id for _, user_id in self.remote.profile_queries), invitees
        )

    def test_a_server_that_does_not_answer_in_time_gives_null(self) -> None:
        self.remote.silent.add("slow.example")
        before = self.clock.time()
        code, body = self.send_batch(
            [invite("@x:slow.example"), invite("@y:fast.example")], "timeout"
        )
        self.assertEqual(code, 200, body)
        self.assertIsNone(body[0])
        self.assertIsNotNone(body[1])
        # The configured wait, not Synapse's own minute.
        self.assertLess(self.clock.time() - before, 12)
        self.assertIsNone(self.membership("@x:slow.example"))
        self.assertEqual(self.membership("@y:fast.example"), "invite")
        code, body = self.send_batch([invite("@z:slow.example")], "timeout-alone")
        self.assertEqual(code, 400, body)
        (error,) = body["org.matrix.msc3192.errors"]
        self.assertEqual(error["errcode"], "M_UNKNOWN")
        self.assertIn("slow.example did not sign the invite within 5 s", error["error"])

    def test_invite_after_a_change_the_invitee_is_shown_sees_that_change(
        self,
    ) -> None:
        code, body = self.send_batch(
            [
                {"event_type": "m.room.name", "content": {"name": "New name"}},
                invite("@n:remote.example"),
                invite("@m:remote.example"),
            ],
            "preview",
        )
        self.assertEqual(code, 200, body)
        self.assertTrue(all(body), body)
        ((_, _, content), _) = self.remote.asked
        shown = json.dumps(
            content.get("invite_room_state")
            or content["event"]["unsigned"]["invite_room_state"]
        )
        self.assertIn("New name", shown)
        # The name was persisted first, then the invites as a second chain.
        events = self.room_events()[-3:]
        self.assertEqual([e.event_id for e in events], body)
        self.assertEqual(events[2].prev_event_ids(), [events[1].event_id])


class RemoteInviteRateLimitTestCase(RemoteInvitesBase):
    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["rc_invites"] = {"per_issuer": {"per_second": 0.001, "burst_count": 2}}
        return config

    def test_remote_invites_count_against_rc_invites(self) -> None:
        # As local ones: each invite takes from the limits before its server is
        # asked, and a server is not asked about a refused invite.
        code, body = self.send_batch(
            [invite(f"@r{i}:remote.example") for i in range(4)], "limited"
        )
        self.assertEqual(code, 200, body)
        self.assertEqual([i is not None for i in body], [True, True, False, False])
        self.assertEqual(len(self.remote.asked), 2)
