"""The order of the per-item decisions of a batch, and which items go which way,
with Synapse's primitives replaced by fakes: no homeserver needed."""

from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import attr
from synapse.api.errors import (
    AuthError,
    Codes,
    EventSizeError,
    NotFoundError,
    SynapseError,
)
from synapse.types import JsonDict, StateMap, create_requester
from twisted.internet import defer
from twisted.trial import unittest

from msc_extensions._synapse_private.event_creation import ChainStart, CreatedEvent
from msc_extensions._synapse_private.member_profiles import LocalProfiles
from msc_extensions._synapse_private.requesters import Requester
from msc_extensions.msc3192.batch import StateBatch
from msc_extensions.msc3192.config import RemoteInvitesConfig
from msc_extensions.msc3192.handler import BatchStateHandler
from msc_extensions.msc3192.items import BatchItem, ItemResult
from msc_extensions.msc3192.metrics import BatchStateMetrics

ROOM = "!room:test"
SENDER = "@owner:test"
PREV = "$prev"
START_GROUP = 7
SNAPSHOT = 8

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """The fakes never wait, so the coroutine finishes at once."""
    deferred: defer.Deferred[T] = defer.ensureDeferred(coroutine)
    results: list[T] = []
    failures: list[Any] = []
    deferred.addCallbacks(results.append, failures.append)
    if failures:
        failures[0].raiseException()
    (result,) = results
    return result


def items(*types: str, content: JsonDict | None = None) -> list[BatchItem]:
    return [
        BatchItem(
            index=index,
            event_type=event_type,
            state_key=(SENDER if event_type == "m.room.member" else str(index)),
            content=(
                {"membership": "ban"}
                if event_type == "m.room.member"
                else dict(content or {"n": index})
            ),
        )
        for index, event_type in enumerate(types)
    ]


@attr.s(auto_attribs=True)
class FakeEvent:
    event_id: str
    type: str
    state_key: str
    sender: str
    content: JsonDict
    depth: int


class Fakes:
    """Every primitive the batch and the handler use, recording the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.state: dict[tuple[str, str], str] = {}
        self.events: dict[str, FakeEvent] = {}
        #: Event types each check refuses.
        self.refused_by_spam_checker: set[str] = set()
        self.refused_by_auth: set[str] = set()
        self.too_large: set[str] = set()
        #: chain_start's group; None: a snapshot is needed (stored as SNAPSHOT).
        self.start_group: int | None = START_GROUP
        self.refused_after_creation: set[str] = set()
        self.broken_creation: set[str] = set()
        self.partial_state = False
        self.persisted: list[tuple[list[str], int, StateMap[str]]] = []

    # RoomLocks
    @asynccontextmanager
    async def creating_events(self, room_id: str) -> AsyncIterator[None]:
        self.calls.append(("lock", room_id))
        yield
        self.calls.append(("unlock", room_id))

    # RoomReads
    async def exists(self, room_id: str) -> bool:
        return room_id == ROOM

    async def is_partial_state(self, room_id: str) -> bool:
        return self.partial_state

    async def uses_state_dags(self, room_id: str) -> bool:
        return False

    async def is_server_in_room(self, room_id: str) -> bool:
        return True

    # MembershipRules
    async def read_ahead(self, items: Sequence[BatchItem]) -> LocalProfiles:
        return LocalProfiles()

    async def get_event(self, event_id: str) -> FakeEvent | None:
        return self.events.get(event_id)

    # EventCreation
    async def chain_start(self, room_id: str, n_events: int) -> ChainStart:
        self.calls.append(("chain_start", n_events))
        return ChainStart([PREV], dict(self.state), self.start_group)

    async def chain_state_group(self, room_id: str, start: ChainStart) -> int:
        if start.state_group is not None:
            return start.state_group
        self.calls.append(("snapshot",))
        return SNAPSHOT

    async def create_event(
        self,
        requester: Requester,
        event_dict: JsonDict,
        prev_event_ids: Sequence[str],
        depth: int | None,
        state: StateMap[str],
    ) -> CreatedEvent:
        key = (event_dict["type"], event_dict["state_key"])
        self.calls.append(("create", key, list(prev_event_ids), depth))
        if event_dict["type"] in self.broken_creation:
            raise RuntimeError("broken")
        event = FakeEvent(
            event_id=f"$new-{key[1]}",
            type=key[0],
            state_key=key[1],
            sender=event_dict["sender"],
            content=event_dict["content"],
            depth=10 if depth is None else depth,
        )
        # Fakes stand in for Synapse's event and context.
        return CreatedEvent(cast(Any, event), cast(Any, None))

    def check_limits(self, event: FakeEvent) -> None:
        self.calls.append(("limits", event.event_id))
        if event.type in self.too_large:
            raise EventSizeError("event too large", unpersistable=True)

    async def check_auth(
        self, event: FakeEvent, earlier_in_chain: Mapping[str, FakeEvent]
    ) -> None:
        self.calls.append(("auth", event.event_id, sorted(earlier_in_chain)))
        if event.type in self.refused_by_auth:
            raise AuthError(403, "no power")

    # SpamChecks
    async def check_may_send_state_event(
        self,
        user_id: str,
        room_id: str,
        event_type: str,
        state_key: str,
        content: JsonDict,
    ) -> None:
        self.calls.append(("may_send", event_type, state_key))
        if event_type in self.refused_by_spam_checker:
            raise SynapseError(403, "spam", Codes.FORBIDDEN)

    async def check_created_event(self, event: FakeEvent) -> None:
        self.calls.append(("spam_event", event.event_id))
        if event.type in self.refused_after_creation:
            raise SynapseError(403, "probable spam", Codes.FORBIDDEN)

    # BatchPersistence
    async def persist(
        self,
        requester: Requester,
        room_id: str,
        chain: Sequence[CreatedEvent],
        state_group: int,
        state_before: StateMap[str],
        extra_users: Sequence[str] = (),
    ) -> None:
        self.persisted.append(
            ([c.event.event_id for c in chain], state_group, dict(state_before))
        )

    # SingleSends
    async def send_membership(
        self,
        requester: Requester,
        room_id: str,
        target: str,
        membership: str,
        content: JsonDict,
    ) -> str:
        self.calls.append(("single_member", target, membership))
        return f"$member-{target}"

    async def send_state_event(self, requester: Requester, event_dict: JsonDict) -> str:
        self.calls.append(("single_state", event_dict["type"], event_dict["state_key"]))
        return f"$single-{event_dict['state_key']}"

    # ServerAdmins
    async def is_server_admin(self, requester: Requester) -> bool:
        return requester.user.to_string() == "@root:test"

    # UserRatelimiter
    async def ratelimit(self, requester: Requester) -> None:
        self.calls.append(("ratelimit",))


def state_batch(fakes: Fakes) -> StateBatch:
    # One fake plays every primitive.
    primitives: Any = fakes
    return StateBatch(
        locks=primitives,
        rooms=primitives,
        creation=primitives,
        spam=primitives,
        members=primitives,
        persistence=primitives,
        effects=primitives,
        remote_invites=primitives,
        remote_config=RemoteInvitesConfig(),
    )


def handler(fakes: Fakes, batch: Any = None) -> BatchStateHandler:
    primitives: Any = fakes
    return BatchStateHandler(
        rooms=primitives,
        ratelimiter=primitives,
        admins=primitives,
        spam=primitives,
        single_sends=primitives,
        batch=batch or state_batch(fakes),
        metrics=BatchStateMetrics("unit.test"),
    )


class StateBatchTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.fakes = Fakes()
        self.batch = state_batch(self.fakes)
        self.requester = create_requester(SENDER)

    def send(
        self, batch_items: Sequence[BatchItem], is_admin: bool = False
    ) -> list[ItemResult]:
        return run(self.batch.send(self.requester, ROOM, batch_items, is_admin))

    def test_checks_run_in_the_order_of_put_state_and_events_chain(self) -> None:
        results = self.send(items("a.x", "a.y"))
        self.assertEqual([r.event_id for r in results], ["$new-0", "$new-1"])
        self.assertEqual(
            self.fakes.calls,
            [
                ("lock", ROOM),
                ("chain_start", 2),
                ("may_send", "a.x", "0"),
                ("create", ("a.x", "0"), [PREV], None),
                ("limits", "$new-0"),
                ("auth", "$new-0", []),
                ("spam_event", "$new-0"),
                ("may_send", "a.y", "1"),
                ("create", ("a.y", "1"), ["$new-0"], 11),
                ("limits", "$new-1"),
                ("auth", "$new-1", ["$new-0"]),
                ("spam_event", "$new-1"),
                ("unlock", ROOM),
            ],
        )
        self.assertEqual(self.fakes.persisted, [(["$new-0", "$new-1"], 7, {})])

    def test_a_failing_item_is_left_out_of_the_chain(self) -> None:
        self.fakes.refused_by_auth.add("a.forbidden")
        self.fakes.refused_after_creation.add("a.spam")
        results = self.send(items("a.x", "a.forbidden", "a.spam", "a.y"))
        self.assertEqual(
            [r.event_id for r in results], ["$new-0", None, None, "$new-3"]
        )
        assert results[1].error is not None and results[2].error is not None
        self.assertEqual(results[1].error.code, 403)
        self.assertEqual(results[2].error.msg, "probable spam")
        # The last item builds on the last accepted one.
        self.assertIn(("create", ("a.y", "3"), ["$new-0"], 11), self.fakes.calls)
        self.assertEqual(self.fakes.persisted[0][0], ["$new-0", "$new-3"])

    def test_an_event_over_synapses_size_limit_is_left_out(self) -> None:
        self.fakes.too_large.add("a.big")
        results = self.send(items("a.x", "a.big", "a.y"))
        self.assertEqual([r.event_id for r in results], ["$new-0", None, "$new-2"])
        error = results[1].error
        assert error is not None
        self.assertEqual(error.errcode, Codes.TOO_LARGE)
        # Checked before the auth rules, as handle_new_client_event does.
        self.assertNotIn(("auth", "$new-1", ["$new-0"]), self.fakes.calls)
        self.assertEqual(self.fakes.persisted[0][0], ["$new-0", "$new-2"])

    def test_a_snapshot_is_stored_only_for_a_chain_with_events(self) -> None:
        self.fakes.start_group = None
        self.fakes.too_large.add("a.big")
        self.assertEqual([r.event_id for r in self.send(items("a.big"))], [None])
        self.assertNotIn(("snapshot",), self.fakes.calls)
        self.assertEqual(self.fakes.persisted, [])
        self.send(items("a.x"))
        self.assertIn(("snapshot",), self.fakes.calls)
        self.assertEqual(self.fakes.persisted[0][1], SNAPSHOT)

    def test_spam_checker_refusal_stops_the_item_before_creation(self) -> None:
        self.fakes.refused_by_spam_checker.add("a.x")
        results = self.send(items("a.x"))
        self.assertIsNone(results[0].event_id)
        self.assertFalse([c for c in self.fakes.calls if c[0] == "create"])
        self.assertEqual(self.fakes.persisted, [])

    def test_server_admins_skip_the_spam_checker(self) -> None:
        self.fakes.refused_by_spam_checker.add("a.x")
        results = self.send(items("a.x"), is_admin=True)
        self.assertEqual(results[0].event_id, "$new-0")
        self.assertFalse([c for c in self.fakes.calls if c[0] == "may_send"])

    def test_repeat_of_current_state_gives_the_existing_event(self) -> None:
        for sender, event_id in [(SENDER, "$mine"), ("@other:test", "$theirs")]:
            key = str(len(self.fakes.state))
            self.fakes.state[("a.x", key)] = event_id
            self.fakes.events[event_id] = FakeEvent(
                event_id, "a.x", key, sender, {"same": True}, 3
            )
        results = self.send(items("a.x", "a.x", content={"same": True}))
        # Same sender and content: the existing event. Another sender's: new.
        self.assertEqual([r.event_id for r in results], ["$mine", "$new-1"])
        self.assertEqual(
            [c[1] for c in self.fakes.calls if c[0] == "create"], [("a.x", "1")]
        )
        # The spam check runs before the comparison, as in PUT /state.
        self.assertEqual(self.fakes.calls[2], ("may_send", "a.x", "0"))

    def test_nothing_accepted_persists_nothing(self) -> None:
        self.fakes.refused_by_auth.add("a.x")
        results = self.send(items("a.x", "a.x"))
        self.assertEqual([r.event_id for r in results], [None, None])
        self.assertEqual(self.fakes.persisted, [])

    def test_an_unexpected_error_fails_only_its_item(self) -> None:
        self.fakes.broken_creation.add("a.broken")
        with self.assertLogs("msc_extensions.msc3192.outcomes", "ERROR"):
            results = self.send(items("a.broken", "a.x"))
        assert results[0].error is not None
        self.assertEqual(results[0].error.code, 500)
        self.assertEqual(results[1].event_id, "$new-1")

    def test_shadow_banned_users_get_fake_event_ids_and_nothing_is_sent(
        self,
    ) -> None:
        self.requester = create_requester(SENDER, shadow_banned=True)
        results = self.send(items("a.x", "a.y"))
        self.assertEqual(len({r.event_id for r in results}), 2)
        self.assertEqual(self.fakes.calls, [])
        self.assertEqual(self.fakes.persisted, [])


class HandlerTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.fakes = Fakes()
        self.requester = create_requester(SENDER)

    def test_plain_state_goes_in_runs_and_the_rest_one_by_one(self) -> None:
        batch_items = items(
            "a.x", "a.y", "m.room.member", "a.z", "m.room.canonical_alias", "a.w"
        )
        results = run(handler(self.fakes).apply(self.requester, ROOM, batch_items))
        self.assertEqual(
            [r.event_id for r in results],
            [
                "$new-0",
                "$new-1",
                f"$member-{SENDER}",
                "$new-3",
                "$single-4",
                "$new-5",
            ],
        )
        self.assertEqual(
            [p[0] for p in self.fakes.persisted],
            [["$new-0", "$new-1"], ["$new-3"], ["$new-5"]],
        )
        self.assertIn(("single_member", SENDER, "ban"), self.fakes.calls)
        # Single items pass the same spam check first.
        member = self.fakes.calls.index(("single_member", SENDER, "ban"))
        self.assertEqual(
            self.fakes.calls[member - 1], ("may_send", "m.room.member", SENDER)
        )

    def test_partial_state_rooms_get_every_item_one_by_one(self) -> None:
        self.fakes.partial_state = True
        results = run(handler(self.fakes).apply(self.requester, ROOM, items("a.x")))
        self.assertEqual(results[0].event_id, "$single-0")
        self.assertEqual(self.fakes.persisted, [])

    def test_a_run_that_fails_as_a_whole_fails_each_of_its_items(self) -> None:
        class BrokenBatch:
            async def send(self, *args: Any) -> list[ItemResult]:
                raise SynapseError(503, "busy", Codes.UNKNOWN)

        results = run(
            handler(self.fakes, BrokenBatch()).apply(
                self.requester, ROOM, items("a.x", "m.room.member", "a.y")
            )
        )
        self.assertEqual(
            [r.event_id for r in results], [None, f"$member-{SENDER}", None]
        )
        assert results[0].error is not None
        self.assertEqual(results[0].error.msg, "busy")

    def test_unknown_room_is_404_and_takes_no_rate_limit(self) -> None:
        with self.assertRaises(NotFoundError):
            run(handler(self.fakes).handle(self.requester, "!no:test", items("a.x")))
        self.assertNotIn(("ratelimit",), self.fakes.calls)

    def test_handle_answers_with_the_event_ids(self) -> None:
        code, body = run(handler(self.fakes).handle(self.requester, ROOM, items("a.x")))
        self.assertEqual((code, body), (200, ["$new-0"]))
        self.assertEqual(self.fakes.calls.count(("ratelimit",)), 1)
