"""Private APIs behind MSC3895 and MSC3902: partial-state rooms and their resync.

Synapse has no module API for partial-state rooms. Each item below says what the
module relies on and why; the rest of the module sees only :class:`PartialStateInternals`
and the federation helpers at the end.

1. ``DataStore`` (``hs.get_datastores().main``) reads:
   ``get_partial_state_room_resync_info()`` (every partial-state room, its
   ``joined_via`` and the servers in the room at join), ``is_partial_state_room``,
   ``get_partial_state_servers_at_join``,
   ``get_join_event_id_and_device_lists_stream_id_for_partial_state`` (the join that
   made the room partial, for the join time), ``get_current_hosts_in_room`` (the store
   method, which does not wait for full state: the current membership approximation),
   ``get_event``, ``get_destination_retry_timings``, ``get_local_users_in_room``,
   ``get_aliases_for_room``.
2. ``FederationHandler`` (main process only), which runs Synapse's resync:
   ``_active_partial_state_syncs`` (the rooms with a resync running: never start a
   second one), ``_start_partial_state_room_sync(initial_destination,
   other_destinations, room_id)`` (start one, as Synapse does at join and at start-up)
   and ``_sync_partial_state_room``, which is replaced on the handler instance by a
   wrapper that reports every resync's start and outcome (Synapse's own included) and
   lets the admin API cancel it. Synapse calls it through ``self.``, so the instance
   attribute takes effect for all callers.
3. ``Notifier.notify_remote_server_up``: Synapse calls it when a destination that
   was in retry back-off is seen alive again (a signed request from it, or a request
   to it that succeeded). Wrapped on the instance so the resync loop hears of it.
4. ``hs.get_federation_http_client().get_json(..., ignore_backoff=True)``: a probe of
   a destination in retry back-off. A success clears Synapse's back-off for it
   (``RetryDestinationLimiter`` resets the timings on success).
5. Federation answers: ``FederationServer.on_pdu_request``,
   ``FederationServer.on_event_auth`` and ``check_server_matches_acl``;
   ``FederationHandler.on_event_auth`` (the auth chain, read from the store only);
   ``RoomSummaryHandler.get_federation_hierarchy``;
   ``StorageControllers.state.get_current_state_ids`` with a state filter without
   members, which does not wait for full state.
6. ``JsonResource._send_error_response``: wrapped on each federation resource so that
   Synapse's own MSC3895 answers carry the configured error code.
7. ``Clock.call_later`` with ``synapse.util.duration.Duration`` and the logcontext
   helpers: a time limit on Synapse's hierarchy answer for partial-state rooms, so
   that it can never hang.
8. Aborting: ``RoomMemberHandler.update_membership`` and ``forget`` (local users
   leave, as the room shutdown admin API makes them), ``get_local_users_related_to_room``,
   ``get_destination_last_successful_stream_ordering`` (has the leave reached a
   server yet), ``set_destination_retry_timings`` (undo the back-off Synapse records
   when a request is cancelled) and ``PaginationHandler.purge_room``.
"""

import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

import attr
from synapse.api.constants import EventTypes
from synapse.api.errors import SynapseError
from synapse.events import EventBase
from synapse.http.server import HttpServer, JsonResource
from synapse.logging.context import (
    PreserveLoggingContext,
    make_deferred_yieldable,
    run_in_background,
)
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.types.state import StateFilter
from synapse.util.duration import Duration
from twisted.internet import defer
from twisted.python import failure

logger = logging.getLogger(__name__)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PartialStateRoom:
    """A partial-state room as Synapse's tables know it."""

    room_id: str
    joined_via: str | None
    servers_at_join: frozenset[str]


class ResyncObserver(Protocol):
    def on_resync_started(self, room_id: str) -> None: ...

    def on_resync_finished(self, room_id: str, error: BaseException | None) -> None: ...


class PartialStateInternals:
    """One homeserver's partial-state machinery, as the module needs it."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main
        self._clock = hs.get_clock()
        self.server_name = hs.hostname
        self.is_main_process = hs.config.worker.worker_app is None
        self._running: dict[str, defer.Deferred[None]] = {}

    # (1) reads
    async def partial_state_rooms(self) -> dict[str, PartialStateRoom]:
        info = await self._store.get_partial_state_room_resync_info()
        return {
            room_id: PartialStateRoom(
                room_id, entry.joined_via, frozenset(entry.servers_in_room)
            )
            for room_id, entry in info.items()
        }

    async def is_partial_state_room(self, room_id: str) -> bool:
        return bool(await self._store.is_partial_state_room(room_id))

    async def join_time_ms(self, room_id: str) -> int | None:
        """When the join that made the room partial-state was created."""
        try:
            (
                event_id,
                _,
            ) = await self._store.get_join_event_id_and_device_lists_stream_id_for_partial_state(
                room_id
            )
        except Exception:
            return None
        if not event_id:  # Synapse writes it just after the join is persisted
            return None
        event = await self._store.get_event(event_id, allow_none=True)
        return event.origin_server_ts if event else None

    async def servers_believed_in_room(self, room_id: str) -> set[str]:
        """Servers in the room at join, plus those with a joined member in the
        current state as known here; this server excluded."""
        at_join = await self._store.get_partial_state_servers_at_join(room_id)
        current = await self._store.get_current_hosts_in_room(room_id)
        return (set(at_join or ()) | set(current)) - {self.server_name}

    async def get_event(self, event_id: str) -> EventBase | None:
        event: EventBase | None = await self._store.get_event(
            event_id, allow_none=True, allow_rejected=True
        )
        return event

    async def destination_backed_off_until_ms(self, destination: str) -> int | None:
        timings = await self._store.get_destination_retry_timings(destination)
        if not timings or not timings.retry_last_ts:
            return None
        until = timings.retry_last_ts + timings.retry_interval
        return until if until > self._clock.time_msec() else None

    # (2) Synapse's resync
    def resync_running(self, room_id: str) -> bool:
        handler = self._hs.get_federation_handler()
        return room_id in handler._active_partial_state_syncs

    def start_resync(
        self, room_id: str, initial_destination: str | None, others: Collection[str]
    ) -> bool:
        """Start Synapse's resync for the room unless one runs already."""
        if self.resync_running(room_id):
            return False
        handler = self._hs.get_federation_handler()
        handler._start_partial_state_room_sync(
            initial_destination=initial_destination,
            other_destinations=set(others),
            room_id=room_id,
        )
        return True

    def observe_resyncs(self, observer: ResyncObserver) -> None:
        handler = self._hs.get_federation_handler()
        synapse_sync = handler._sync_partial_state_room
        running = self._running

        async def sync_partial_state_room(
            initial_destination: str | None,
            other_destinations: Collection[str],
            room_id: str,
        ) -> None:
            observer.on_resync_started(room_id)
            d: defer.Deferred[None] = run_in_background(
                synapse_sync,
                initial_destination,
                set(other_destinations),
                room_id,
            )
            running[room_id] = d
            try:
                await make_deferred_yieldable(d)
            except BaseException as e:
                observer.on_resync_finished(room_id, e)
                raise
            finally:
                running.pop(room_id, None)
            observer.on_resync_finished(room_id, None)

        handler._sync_partial_state_room = sync_partial_state_room  # type: ignore[method-assign]

    def cancel_resync(self, room_id: str) -> bool:
        d = self._running.get(room_id)
        if d is None:
            return False
        d.cancel()
        return True

    # (3)
    def on_remote_server_up(self, callback: Callable[[str], None]) -> None:
        notifier = self._hs.get_notifier()
        synapse_notify = notifier.notify_remote_server_up

        def notify_remote_server_up(server: str) -> None:
            synapse_notify(server)
            try:
                callback(server)
            except Exception:
                logger.exception("remote-server-up callback failed for %s", server)

        notifier.notify_remote_server_up = notify_remote_server_up  # type: ignore[method-assign]

    # (4)
    async def probe_destination(self, destination: str, timeout_ms: int) -> None:
        """Ask the destination for its version, ignoring Synapse's back-off. A success
        clears that back-off. Raises on failure."""
        client = self._hs.get_federation_http_client()
        await client.get_json(
            destination,
            "/_matrix/federation/v1/version",
            timeout=timeout_ms,
            ignore_backoff=True,
        )

    # (7)
    async def local_users_in_room(self, room_id: str) -> list[str]:
        return list(await self._store.get_local_users_in_room(room_id))

    async def local_aliases(self, room_id: str) -> list[str]:
        return list(await self._store.get_aliases_for_room(room_id))

    async def local_users_with_power(self, room_id: str) -> list[str]:
        """Local users whose power level is above the room's default."""
        state = await self._hs.get_storage_controllers().state.get_current_state(
            room_id,
            StateFilter.from_types([(EventTypes.PowerLevels, "")]),
            await_full_state=False,
        )
        pl = state.get((EventTypes.PowerLevels, ""))
        if pl is None:
            return []
        users = pl.content.get("users", {})
        default = pl.content.get("users_default", 0)
        if not isinstance(users, dict):
            return []
        return sorted(
            user_id
            for user_id, level in users.items()
            if isinstance(user_id, str)
            and self._hs.is_mine_id(user_id)
            and isinstance(level, int)
            and isinstance(default, int)
            and level > default
        )

    async def make_local_users_leave(self, room_id: str) -> dict[str, int]:
        """Every local user joined, invited or knocking leaves (as the room
        shutdown admin API makes them) and forgets the room. Returns each user's
        leave event stream position."""
        from synapse.api.constants import Membership
        from synapse.types import UserID, create_requester

        handler = self._hs.get_room_member_handler()
        left: dict[str, int] = {}
        related = await self._store.get_local_users_related_to_room(room_id)
        for user_id, membership in related:
            if membership not in (Membership.JOIN, Membership.INVITE, Membership.KNOCK):
                continue
            requester = create_requester(user_id)
            _, stream_id = await handler.update_membership(
                requester=requester,
                target=UserID.from_string(user_id),
                room_id=room_id,
                action=Membership.LEAVE,
                content={},
                ratelimit=False,
                require_consent=False,
            )
            await handler.forget(requester.user, room_id, do_not_schedule_purge=True)
            left[user_id] = int(stream_id)
        return left

    async def delivered_up_to(self, destination: str) -> int:
        """The stream position of the last event sent to ``destination``."""
        position = await self._store.get_destination_last_successful_stream_ordering(
            destination
        )
        return int(position or 0)

    async def purge_room(self, room_id: str) -> None:
        await self._hs.get_pagination_handler().purge_room(room_id, force=True)

    async def clear_retry_backoff(self, destination: str) -> None:
        await self._store.set_destination_retry_timings(destination, None, 0, 0)


# (5) federation answers
class FederationAnswers:
    """The built-in answers of the federation endpoints the module overrides, and the
    pieces to build its own."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._clock = hs.get_clock()

    async def builtin_event(self, origin: str, event_id: str) -> tuple[int, Any]:
        return await self._hs.get_federation_server().on_pdu_request(origin, event_id)

    async def builtin_event_auth(
        self, origin: str, room_id: str, event_id: str
    ) -> tuple[int, JsonDict]:
        return await self._hs.get_federation_server().on_event_auth(
            origin, room_id, event_id
        )

    async def builtin_hierarchy(
        self,
        origin: str,
        room_id: str,
        suggested_only: bool,
        timeout_s: float | None = None,
    ) -> JsonDict | None:
        """Synapse's answer; None if it took longer than ``timeout_s`` (Synapse's
        computation then finishes in the background, unobserved)."""
        d: defer.Deferred[JsonDict] = run_in_background(
            self._hs.get_room_summary_handler().get_federation_hierarchy,
            origin,
            room_id,
            suggested_only,
        )
        if timeout_s is None:
            return await make_deferred_yieldable(d)
        first: defer.Deferred[JsonDict | failure.Failure | None] = defer.Deferred()

        def settle(outcome: JsonDict | failure.Failure | None) -> None:
            if not first.called:
                with PreserveLoggingContext():
                    first.callback(outcome)

        d.addBoth(settle)
        timer = self._clock.call_later(Duration(seconds=timeout_s), settle, None)
        outcome = await make_deferred_yieldable(first)
        if timer.active():
            timer.cancel()
        if isinstance(outcome, failure.Failure):
            outcome.raiseException()
        return outcome

    async def check_acl(self, origin: str, room_id: str) -> None:
        from synapse.util.stringutils import parse_server_name

        host, _ = parse_server_name(origin)
        await self._hs.get_federation_server().check_server_matches_acl(host, room_id)

    def transaction_of(self, events: Iterable[EventBase]) -> JsonDict:
        now = self._clock.time_msec()
        return {
            "origin": self._hs.hostname,
            "origin_server_ts": now,
            "pdus": [e.get_pdu_json(now) for e in events],
        }

    async def auth_chain_json(self, room_id: str, event_id: str) -> list[JsonDict]:
        events = await self._hs.get_federation_handler().on_event_auth(
            event_id, room_id
        )
        now = self._clock.time_msec()
        return [e.get_pdu_json(now) for e in events]

    async def non_member_state(self, room_id: str) -> dict[tuple[str, str], EventBase]:
        """The current state without membership: complete even while partial."""
        state = await self._hs.get_storage_controllers().state.get_current_state(
            room_id,
            StateFilter.freeze({EventTypes.Member: set()}, include_others=True),
            await_full_state=False,
        )
        return dict(state)

    async def joined_member_count(self, room_id: str) -> int:
        store: Any = self._hs.get_datastores().main
        return int(await store.get_number_joined_users_in_room(room_id))

    async def provably_accessible(self, room_id: str) -> bool:
        """Whether any server may see the room's summary, from the non-member
        state, which is complete even while the room is partial-state."""
        from synapse.api.constants import HistoryVisibility, JoinRules

        state = await self.non_member_state(room_id)
        join_rules = state.get((EventTypes.JoinRules, ""))
        if join_rules is not None and join_rules.content.get("join_rule") in (
            JoinRules.PUBLIC,
            JoinRules.KNOCK,
            JoinRules.KNOCK_RESTRICTED,
        ):
            return True
        visibility = state.get((EventTypes.RoomHistoryVisibility, ""))
        return (
            visibility is not None
            and visibility.content.get("history_visibility")
            == HistoryVisibility.WORLD_READABLE
        )

    async def has_joined_member(self, room_id: str, server: str) -> bool:
        """Whether ``server`` has a joined member in the room's current state as
        known here (the partial-state approximation; does not wait)."""
        store: Any = self._hs.get_datastores().main
        return bool(await store.is_host_joined(room_id, server))


# (6)
def rewrite_partial_state_errcode(
    resource: HttpServer, codes: Collection[str], errcode: str
) -> None:
    """Make every error with one of ``codes`` that ``resource`` renders carry
    ``errcode`` instead."""
    if not isinstance(resource, JsonResource):
        return
    if getattr(resource, "_msc_extensions_errcode", None) == errcode:
        return
    synapse_send_error = resource._send_error_response

    def send_error_response(f: failure.Failure, request: Any) -> None:
        if isinstance(f.value, SynapseError) and f.value.errcode in codes:
            f.value.errcode = errcode
        synapse_send_error(f, request)

    resource._send_error_response = send_error_response  # type: ignore[method-assign]
    resource._msc_extensions_errcode = errcode  # type: ignore[attr-defined]


__all__ = [
    "FederationAnswers",
    "PartialStateInternals",
    "PartialStateRoom",
    "ResyncObserver",
    "rewrite_partial_state_errcode",
]
