"""Synapse's own caches filled from reads in bulk (``_synapse_private.cache_priming``,
used for the invite rules of a batch's invitees): Synapse's cached reads then
answer what they would have read themselves, without the database, and a change
made while the bulk read runs is never hidden behind what it read."""

from typing import Any
from unittest.mock import patch

from synapse.api.constants import AccountDataTypes
from synapse.logging.context import make_deferred_yieldable
from synapse.server import HomeServer
from synapse.storage.invite_rule import InviteRule
from synapse.types import JsonDict
from synapse.util.clock import Clock
from twisted.internet import defer
from twisted.internet.testing import MemoryReactor

from msc_extensions._synapse_private.cache_priming import CachePriming
from msc_extensions._synapse_private.invite_checks import InviteChecks
from tests.integration.harness import ModuleTestCase


def blocking_rules() -> tuple[str, JsonDict]:
    """An account data type Synapse reads invite rules from, and rules in it
    that block every invite."""
    # MSC4380's stable type from Synapse 1.149.0; before, MSC4155's behind its flag.
    if hasattr(AccountDataTypes, "INVITE_PERMISSION_CONFIG"):
        return "m.invite_permission_config", {"default_action": "block"}
    return AccountDataTypes.MSC4155_INVITE_PERMISSION_CONFIG, {"blocked_users": ["*"]}


class InviteRulesPrimingTestCase(ModuleTestCase):
    module_settings: JsonDict = {"msc3895": {"enabled": False}}

    def default_config(self) -> JsonDict:
        config = super().default_config()
        config.setdefault("experimental_features", {})["msc4155_enabled"] = True
        return config

    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self.store: Any = hs.get_datastores().main
        self.alice = self.register_user("alice", "password")
        self.bob = self.register_user("bob", "password")
        self.rules_type, self.rules = blocking_rules()

    def set_rules(self, user_id: str, content: JsonDict) -> None:
        self.get_success(
            self.hs.get_account_data_handler().add_account_data_for_user(
                user_id, self.rules_type, content
            )
        )

    def invite_rule(self, user_id: str) -> InviteRule:
        config = self.get_success(self.store.get_invite_config_for_user(user_id))
        rule: InviteRule = config.get_invite_rule("@someone:test")
        return rule

    def test_read_rules_are_answered_from_the_cache(self) -> None:
        self.set_rules(self.alice, self.rules)
        # Nothing of theirs cached, as for invitees of a new batch.
        self.store.get_global_account_data_by_type_for_user.invalidate_all()
        self.get_success(
            InviteChecks(self.hs).read_invite_rules([self.alice, self.bob])
        )
        with patch.object(
            self.store.db_pool, "runInteraction", side_effect=AssertionError("read")
        ):
            self.assertEqual(self.invite_rule(self.alice), InviteRule.BLOCK)
            self.assertEqual(self.invite_rule(self.bob), InviteRule.ALLOW)

    def test_a_change_while_reading_is_not_hidden(self) -> None:
        read_done: defer.Deferred[dict[tuple[str, str], Any]] = defer.Deferred()

        async def slow_read(keys: Any) -> dict[tuple[str, str], Any]:
            return await make_deferred_yieldable(read_done)

        priming = CachePriming(
            self.store.get_global_account_data_by_type_for_user, slow_read, absent=None
        )
        key = (self.alice, self.rules_type)
        priming_done = defer.ensureDeferred(priming.prime([key]))
        # Alice blocks invites while her rules are being read without them.
        self.set_rules(self.alice, self.rules)
        read_done.callback({})
        self.get_success(priming_done)
        self.assertEqual(self.invite_rule(self.alice), InviteRule.BLOCK)
