"""The state a batch leaves, as Synapse's state-group cache holds it after the
batch is persisted (``_synapse_private.batch_persistence``): exactly the state the
database holds for the last event's group, members included, so that Synapse's
reads of it (the room's new current state, the next batch's start) need no
database."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import MagicMock, patch

from synapse.types import JsonDict, StateMap

from tests.integration.test_msc3192_base import BatchStateTestCase


def member(user_id: str, membership: str) -> JsonDict:
    return {
        "event_type": "m.room.member",
        "state_key": user_id,
        "content": {"membership": membership},
    }


@contextmanager
def recording(target: Any, method: str) -> Iterator[MagicMock]:
    """``target.method`` still runs, and its calls are recorded."""
    with patch.object(target, method, wraps=getattr(target, method)) as recorded:
        yield recorded


class StateAfterBatchTestCase(BatchStateTestCase):
    def state_of_group(self, group: int) -> StateMap[str]:
        state_store: Any = self.hs.get_datastores().state
        groups = self.get_success(state_store._get_state_for_groups([group]))
        return dict(groups[group])

    def extremity_group(self) -> int:
        (extremity,) = self.get_success(
            self.store.get_latest_event_ids_in_room(self.room_id)
        )
        groups = self.get_success(
            self.hs.get_storage_controllers().state.get_state_group_for_events(
                [extremity]
            )
        )
        group: int = groups[extremity]
        return group

    def test_cached_state_after_a_batch_is_the_stored_state(self) -> None:
        carol, carol_token = self.register_member("carol")
        dave, _ = self.register_member("dave")
        self.helper.join(self.room_id, carol, tok=carol_token)
        state_store: Any = self.hs.get_datastores().state
        # The state the batch starts from, read now (into the cache), so that
        # only reads of the state it leaves are counted.
        self.get_success(
            self.hs.get_storage_controllers().state.get_current_state_ids(self.room_id)
        )
        self.state_of_group(self.extremity_group())
        with recording(state_store, "_get_state_groups_from_groups") as reads:
            code, body = self.batch(
                [
                    member(dave, "invite"),
                    member(carol, "leave"),
                    member("@spammer:other.example", "ban"),
                    {"event_type": "m.room.topic", "content": {"topic": "after"}},
                    member(self.mod_id, "ban"),
                ]
            )
        self.assertEqual(code, 200, body)
        self.assertTrue(all(body), body)
        self.assertEqual(reads.call_args_list, [], "the state after was read")
        groups = self.get_success(
            self.hs.get_storage_controllers().state.get_state_group_for_events(
                [body[-1]]
            )
        )
        group = groups[body[-1]]

        # Answered from the cache alone ...
        with patch.object(
            state_store.db_pool, "runInteraction", side_effect=AssertionError("read")
        ):
            cached = self.state_of_group(group)
        # ... with what the database holds.
        state_store._state_group_cache.invalidate_all()
        state_store._state_group_members_cache.invalidate_all()
        stored = self.state_of_group(group)
        self.assertEqual(cached, stored)
        self.assertEqual(stored[("m.room.member", self.mod_id)], body[-1])
        self.assertEqual(stored[("m.room.member", dave)], body[0])
        self.assertIn(("m.room.member", self.admin_id), stored)

    def test_current_state_is_updated_by_the_batch_delta(self) -> None:
        carol, carol_token = self.register_member("carol")
        dave, _ = self.register_member("dave")
        self.helper.join(self.room_id, carol, tok=carol_token)
        persistence: Any = self.hs.get_storage_controllers().persistence
        with recording(persistence, "_calculate_state_delta") as comparisons:
            code, body = self.batch(
                [
                    member(dave, "invite"),
                    {"event_type": "m.room.topic", "content": {"topic": "after"}},
                    member(carol, "ban"),
                    member("@spammer:other.example", "ban"),
                ]
            )
        self.assertEqual(code, 200, body)
        self.assertTrue(all(body), body)
        # No comparison of the whole state before and after: the delta.
        self.assertEqual(comparisons.call_args_list, [])
        # The room's current state, as stored, is the state after the batch.
        self.store.get_partial_current_state_ids.invalidate_all()
        current = self.get_success(
            self.hs.get_storage_controllers().state.get_current_state_ids(self.room_id)
        )
        self.assertEqual(dict(current), self.state_of_group(self.extremity_group()))
        self.assertEqual(current[("m.room.member", dave)], body[0])
        self.assertEqual(current[("m.room.member", "@spammer:other.example")], body[3])
        self.assertEqual(current[("m.room.member", carol)], body[2])
        self.assertEqual(current[("m.room.topic", "")], body[1])
        self.assertEqual(self.membership(carol), "ban")
        self.assertEqual(self.state("m.room.topic"), {"topic": "after"})

    def membership(self, user_id: str) -> str | None:
        content = self.state("m.room.member", user_id)
        return None if content is None else content["membership"]
