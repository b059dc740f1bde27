"""MSC3192 batch state as a :class:`~msc_extensions.feature.Feature`."""

from collections.abc import Iterable

from synapse.http.servlet import RestServlet

from msc_extensions._synapse_private.batch_persistence import BatchPersistence
from msc_extensions._synapse_private.event_creation import EventCreation
from msc_extensions._synapse_private.invite_checks import InviteChecks
from msc_extensions._synapse_private.member_profiles import MemberProfiles
from msc_extensions._synapse_private.membership_effects import MembershipEffects
from msc_extensions._synapse_private.ratelimiting import UserRatelimiter
from msc_extensions._synapse_private.remote_invites import RemoteInvites
from msc_extensions._synapse_private.requesters import AccountStatus, ServerAdmins
from msc_extensions._synapse_private.resources import HomeServer
from msc_extensions._synapse_private.room_locks import RoomLocks
from msc_extensions._synapse_private.room_reads import RoomReads
from msc_extensions._synapse_private.single_sends import SingleSends
from msc_extensions._synapse_private.spam_checks import SpamChecks
from msc_extensions.feature import Feature, FeatureContext
from msc_extensions.msc3192.batch import StateBatch
from msc_extensions.msc3192.config import RATE_LIMITER_NAME, Msc3192Config
from msc_extensions.msc3192.handler import BatchStateHandler
from msc_extensions.msc3192.membership import MembershipRules
from msc_extensions.msc3192.metrics import BatchStateMetrics
from msc_extensions.msc3192.servlet import BatchStateServlet


class Msc3192Feature(Feature):
    name = "msc3192"
    unstable_features = ("org.matrix.msc3192",)

    def __init__(self, context: FeatureContext, config: Msc3192Config) -> None:
        self._context = context
        self._config = config
        self._servlet: BatchStateServlet | None = None
        # On every process, the one that persists events included: a remote
        # invite a batch had signed is not sent to its server again there.
        RemoteInvites(context.hs).install()

    def client_servlets(self) -> Iterable[RestServlet]:
        # Built when Synapse builds the first client resource, as it builds its
        # own servlets and handlers (not while modules load); then one servlet for
        # every client listener of the process, so that they all share one rate
        # limiter. The transactions are the homeserver's, shared by every endpoint.
        if self._servlet is None:
            self._servlet = BatchStateServlet(
                self._context.api,
                self._config,
                self._context.transactions,
                build_handler(self._context.hs, self._config),
            )
        return [self._servlet]


def build_handler(hs: HomeServer, config: Msc3192Config) -> BatchStateHandler:
    """The handler, with what it uses of Synapse for ``hs``."""
    rooms = RoomReads(hs)
    spam = SpamChecks(hs)
    return BatchStateHandler(
        rooms=rooms,
        ratelimiter=UserRatelimiter(
            hs,
            RATE_LIMITER_NAME,
            per_second=config.rate_limit.per_second,
            burst_count=config.rate_limit.burst_count,
        ),
        admins=ServerAdmins(hs),
        spam=spam,
        single_sends=SingleSends(hs),
        batch=StateBatch(
            locks=RoomLocks(hs),
            rooms=rooms,
            creation=EventCreation(hs),
            spam=spam,
            members=MembershipRules(
                rooms=rooms,
                accounts=AccountStatus(hs),
                invites=InviteChecks(hs),
                profiles=MemberProfiles(hs),
                remote=config.remote_invites,
            ),
            persistence=BatchPersistence(hs),
            effects=MembershipEffects(hs),
            remote_invites=RemoteInvites(hs),
            remote_config=config.remote_invites,
        ),
        metrics=BatchStateMetrics(hs.hostname),
    )
