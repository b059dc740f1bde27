"""A partial-state room on the harness homeserver, joined the way Synapse joins.

The technique of Synapse's own tests: the federation client's
``make_membership_event`` and ``send_join`` are patched to return a real join, with
``partial_state=True`` and the member events omitted; ``/state_ids`` and ``/state``
(``get_room_state_ids`` / ``get_room_state``) are patched to answer with the room's
full state while the remote is "up", and to fail while it is "down".

The remote room lives on ``other.example.com`` (whose signing key the harness knows):
a creator, ``REMOTE_MEMBERS`` more members, public join rules unless told otherwise.
"""

from typing import Any
from unittest.mock import AsyncMock, patch

import attr
import signedjson.key
from synapse.api.errors import HttpResponseException, RequestSendFailed
from synapse.api.room_versions import RoomVersion, RoomVersions
from synapse.crypto.event_signing import add_hashes_and_signatures
from synapse.events import EventBase, make_event_from_dict
from synapse.federation.federation_client import SendJoinResult
from synapse.server import HomeServer
from synapse.storage.keys import FetchKeyResult
from synapse.types import JsonDict
from synapse.util.clock import Clock
from synapse.util.retryutils import NotRetryingDestination
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactor

from tests.integration.harness import ModuleTestCase

REMOTE_MEMBERS = 5


class PartialStateTestCase(ModuleTestCase):
    """Base class: ``self.room_id`` is partial-state here after :meth:`join_partial`.

    Attributes:
        remote_up: whether the patched ``/state_ids`` and ``/state`` answer.
        answering: servers that answer even while ``remote_up`` is false.
        partial_state_servers: servers that answer 403 with the MSC3895 code.
        unreachable: while the remote is down, nothing answers at all (connection
            refused, and Synapse's 10-minute retry back-off), rather than a 502.
        state_requests: the ``(destination, event_id)`` of each ``/state_ids`` call.
        hold_state_requests: when set, ``/state_ids`` waits on this Deferred.
        probes: destinations asked for ``/_matrix/federation/v1/version``; that probe
            answers like ``/state_ids`` and, on success, clears Synapse's retry
            back-off as Synapse's retry limiter does.
    """

    room_version: RoomVersion = RoomVersions.V10
    join_rule = "public"
    remote_members = REMOTE_MEMBERS

    def prepare(self, reactor: MemoryReactor, clock: Clock, hs: HomeServer) -> None:
        super().prepare(reactor, clock, hs)
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self.store: Any = hs.get_datastores().main
        self.remote_up = False
        self.answering: set[str] = set()
        self.partial_state_servers: set[str] = set()
        self.unreachable = False
        self.state_requests: list[tuple[str, str]] = []
        self.hold_state_requests: Deferred[None] | None = None
        self.admin_id, self.admin_token = self.register_admin()
        self.alice_id, self.alice_token = self.register_member("alice")
        self._build_remote_room()
        fed_client = hs.get_federation_client()
        for name, side_effect in (
            ("make_membership_event", self._make_membership_event),
            ("send_join", self._send_join),
            ("get_room_state_ids", self._get_room_state_ids),
            ("get_room_state", self._get_room_state),
        ):
            patcher = patch.object(fed_client, name, AsyncMock(side_effect=side_effect))
            patcher.start()
            self.addCleanup(patcher.stop)
        self.probes: list[str] = []
        http_client = hs.get_federation_http_client()
        synapse_get_json = http_client.get_json

        async def get_json(destination: str, path: str, *args: Any, **kw: Any) -> Any:
            if path != "/_matrix/federation/v1/version":
                return await synapse_get_json(destination, path, *args, **kw)
            self.probes.append(destination)
            if destination in self.partial_state_servers:
                raise HttpResponseException(
                    403,
                    "Forbidden",
                    b'{"errcode": "M_UNABLE_DUE_TO_PARTIAL_STATE", "error": "x"}',
                )
            if not (self.remote_up or destination in self.answering):
                if self.unreachable:
                    raise RequestSendFailed(ConnectionRefusedError(), can_retry=True)
                raise HttpResponseException(502, "Bad Gateway", b"")
            # Synapse's retry limiter clears the back-off after any success.
            await self.store.set_destination_retry_timings(destination, None, 0, 0)
            return {"server": {"name": "Synapse", "version": "remote"}}

        patcher = patch.object(http_client, "get_json", side_effect=get_json)
        patcher.start()
        self.addCleanup(patcher.stop)

    # Keys of remote servers, renewed because tests move the clock by hours.
    def trust_server(self, server_name: str) -> None:
        verify_key = signedjson.key.get_verify_key(self.OTHER_SERVER_SIGNATURE_KEY)
        key_id = f"{verify_key.alg}:{verify_key.version}"
        now = self.clock.time_msec()
        self.get_success(
            self.store.store_server_keys_response(
                server_name,
                from_server=server_name,
                ts_added_ms=now,
                verify_keys={
                    key_id: FetchKeyResult(
                        verify_key=verify_key, valid_until_ts=now + 10**9
                    )
                },
                response_json={
                    "verify_keys": {
                        key_id: {
                            "key": signedjson.key.encode_verify_key_base64(verify_key)
                        }
                    }
                },
            )
        )

    def signed_request_from(
        self, origin: str, method: str, path: str, content: JsonDict | None = None
    ) -> tuple[int, Any]:
        """A federation request signed by ``origin`` (which uses the harness's
        remote signing key)."""
        self.trust_server(origin)
        saved: str = self.OTHER_SERVER_NAME
        self.OTHER_SERVER_NAME = origin
        try:
            channel = self.make_signed_federation_request(method, path, content)
        finally:
            self.OTHER_SERVER_NAME = saved
        return channel.code, channel.json_body if channel.result.get("body") else None

    # The remote room.
    def _event(self, fields: JsonDict, sign_as: str | None = None) -> EventBase:
        fields = {
            "room_id": self.room_id,
            "origin_server_ts": self.clock.time_msec(),
            "depth": len(self.timeline) + 1,
            "prev_events": [self.timeline[-1].event_id] if self.timeline else [],
            **fields,
        }
        if sign_as is None:
            self.add_hashes_and_signatures_from_other_server(fields, self.room_version)
        else:
            add_hashes_and_signatures(
                self.room_version, fields, sign_as, self.hs.signing_key
            )
        return make_event_from_dict(fields, self.room_version)

    def _build_remote_room(self) -> None:
        other = self.OTHER_SERVER_NAME
        self.room_id = f"!partial:{other}"
        self.creator = f"@creator:{other}"
        self.timeline: list[EventBase] = []

        def add(fields: JsonDict) -> EventBase:
            event = self._event(fields)
            self.timeline.append(event)
            return event

        self.create = add(
            {
                "type": "m.room.create",
                "state_key": "",
                "sender": self.creator,
                "content": {"creator": self.creator, "room_version": "10"},
                "auth_events": [],
            }
        )
        self.creator_join = add(self._member_fields(self.creator, [self.create]))
        self.power_levels = add(
            {
                "type": "m.room.power_levels",
                "state_key": "",
                "sender": self.creator,
                "content": {"users": {self.creator: 100}, "users_default": 0},
                "auth_events": [self.create.event_id, self.creator_join.event_id],
            }
        )
        self.join_rules = add(
            {
                "type": "m.room.join_rules",
                "state_key": "",
                "sender": self.creator,
                "content": {"join_rule": self.join_rule},
                "auth_events": [
                    self.create.event_id,
                    self.creator_join.event_id,
                    self.power_levels.event_id,
                ],
            }
        )
        self.invite: EventBase | None = None
        if self.join_rule == "invite":
            self.invite = add(
                {
                    "type": "m.room.member",
                    "state_key": self.alice_id,
                    "sender": self.creator,
                    "content": {"membership": "invite"},
                    "auth_events": [
                        self.create.event_id,
                        self.creator_join.event_id,
                        self.power_levels.event_id,
                        self.join_rules.event_id,
                    ],
                }
            )
        self.members = [self.creator]
        # Remote members join only public rooms here (no invites needed).
        for i in range(self.remote_members if self.join_rule == "public" else 0):
            user_id = f"@member{i}:{other}"
            add(self._member_fields(user_id, [self.create, self.power_levels]))
            self.members.append(user_id)

    def _member_fields(self, user_id: str, auth: list[EventBase]) -> JsonDict:
        auth_ids = [e.event_id for e in auth]
        if hasattr(self, "join_rules") and user_id != self.creator:
            auth_ids.append(self.join_rules.event_id)
        return {
            "type": "m.room.member",
            "state_key": user_id,
            "sender": user_id,
            "content": {"membership": "join"},
            "auth_events": auth_ids,
        }

    def full_state_before_join(self) -> list[EventBase]:
        return list(self.timeline[: len(self.timeline)])

    async def _make_membership_event(
        self, *args: Any, **kwargs: Any
    ) -> tuple[str, EventBase, RoomVersion]:
        auth = [self.create, self.power_levels]
        if self.invite is not None:
            auth.append(self.invite)
        fields = self._member_fields(self.alice_id, auth)
        self.alice_join = self._event(fields, sign_as=self.hs.hostname)
        return self.OTHER_SERVER_NAME, self.alice_join, self.room_version

    async def _send_join(self, *args: Any, **kwargs: Any) -> SendJoinResult:
        non_members = [self.create, self.power_levels, self.join_rules]
        partial_state = [*non_members, self.creator_join]
        if self.invite is not None:
            partial_state.append(self.invite)
        fields: dict[str, Any] = {
            "state": partial_state,
            "auth_chain": partial_state,
            "partial_state": True,
            "servers_in_room": {self.OTHER_SERVER_NAME},
        }
        # MSC4242's state DAG joined the result in Synapse 1.161.0.
        if "state_dag" in attr.fields_dict(SendJoinResult):
            fields["state_dag"] = None
        return SendJoinResult(self.alice_join, self.OTHER_SERVER_NAME, **fields)

    async def _get_room_state_ids(
        self, destination: str, room_id: str, event_id: str
    ) -> tuple[list[str], list[str]]:
        self.state_requests.append((destination, event_id))
        if self.hold_state_requests is not None:
            await self.hold_state_requests
        await self._fail_unless_up(destination)
        state = [e.event_id for e in self.full_state_before_join()]
        return state, state

    async def _get_room_state(
        self, destination: str, room_id: str, event_id: str, room_version: RoomVersion
    ) -> tuple[list[EventBase], list[EventBase]]:
        await self._fail_unless_up(destination)
        return [], self.full_state_before_join()

    async def _fail_unless_up(self, destination: str) -> None:
        # As Synapse's federation client does: no request while in retry back-off.
        timings = await self.store.get_destination_retry_timings(destination)
        if timings and timings.retry_last_ts + timings.retry_interval > (
            self.clock.time_msec()
        ):
            raise NotRetryingDestination(
                timings.retry_last_ts, timings.retry_interval, destination
            )
        if destination in self.partial_state_servers:
            raise HttpResponseException(
                403,
                "Forbidden",
                b'{"errcode": "M_UNABLE_DUE_TO_PARTIAL_STATE", "error": "partial"}',
            )
        if not (self.remote_up or destination in self.answering):
            if self.unreachable:
                # No answer at all; Synapse's retry limiter backs off for 10 min.
                self.put_in_retry_backoff(destination, 10 * 60_000)
                raise RequestSendFailed(ConnectionRefusedError(), can_retry=True)
            raise HttpResponseException(502, "Bad Gateway", b"")

    def put_in_retry_backoff(self, destination: str, interval_ms: int) -> None:
        """As Synapse does after requests to ``destination`` failed."""
        now = self.clock.time_msec()
        self.get_success(
            self.store.set_destination_retry_timings(destination, now, now, interval_ms)
        )

    def in_retry_backoff(self, destination: str) -> bool:
        timings = self.get_success(
            self.store.get_destination_retry_timings(destination)
        )
        return bool(timings and timings.retry_last_ts)

    # Helpers for tests.
    def join_partial(self) -> None:
        """Alice joins the remote room; the join-time resync fails unless the
        remote is up."""
        code, body = self.request_json(
            "POST",
            f"/_matrix/client/v3/join/{self.room_id}?server_name={self.OTHER_SERVER_NAME}",
            {},
            access_token=self.alice_token,
        )
        self.assertEqual(code, 200, body)
        self.reactor.advance(0.1)

    def is_partial(self) -> bool:
        return bool(self.get_success(self.store.is_partial_state_room(self.room_id)))

    def joined_members(self) -> set[str]:
        code, body = self.request_json(
            "GET",
            f"/_matrix/client/v3/rooms/{self.room_id}/joined_members",
            access_token=self.alice_token,
        )
        self.assertEqual(code, 200, body)
        return set(body["joined"])

    def advance_ms(self, ms: int, step_ms: int = 1000) -> None:
        """Move the clock by ``ms``, in steps, so looping calls fire on time."""
        while ms > 0:
            step = min(ms, step_ms)
            self.reactor.advance(step / 1000)
            ms -= step
