"""Which membership items the batch path serves itself."""

from synapse.types import create_requester
from twisted.trial import unittest

from msc_extensions.msc3192.items import BatchItem
from msc_extensions.msc3192.membership import batchable_membership

SENDER = "@owner:test"


def item(target: str, membership: str) -> BatchItem:
    return BatchItem(0, "m.room.member", target, {"membership": membership})


class BatchableMembershipTestCase(unittest.TestCase):
    def test_changes_to_other_local_users_are_batched(self) -> None:
        requester = create_requester(SENDER)
        for membership in ("invite", "leave", "ban"):
            self.assertTrue(
                batchable_membership(requester, item("@carol:test", membership)),
                membership,
            )

    def test_changes_to_remote_users_are_batched(self) -> None:
        requester = create_requester(SENDER)
        # Invitees' servers sign their invites before the chain is persisted.
        for membership in ("invite", "leave", "ban"):
            self.assertTrue(
                batchable_membership(requester, item("@carol:other", membership))
            )

    def test_single_path_for_the_rest(self) -> None:
        requester = create_requester(SENDER)
        for target, membership in [
            (SENDER, "join"),
            (SENDER, "leave"),
            ("@carol:test", "join"),
            ("@carol:test", "knock"),
        ]:
            self.assertFalse(
                batchable_membership(requester, item(target, membership)),
                (target, membership),
            )

    def test_single_path_for_shadow_banned_requesters(self) -> None:
        requester = create_requester(SENDER, shadow_banned=True)
        self.assertFalse(batchable_membership(requester, item("@carol:test", "ban")))
