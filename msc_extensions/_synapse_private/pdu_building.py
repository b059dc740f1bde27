"""Private APIs for building PDU templates, and the fields a PDU must have.

What this file relies on, and why:

1. ``DataStore.get_room_version_id(room_id)`` and ``KNOWN_ROOM_VERSIONS``: a room's
   version, known here for rooms this server is in and for rooms it holds an invite
   or knock for. The experimental state-DAG versions (MSC4242,
   :func:`.compat.uses_state_dags`), whose events carry ``prev_state_events``, are
   not served.
2. ``DataStore.is_host_joined(room_id, host)``: whether a server has a joined member
   in a room, as the room's current state here says.
3. ``EventBuilderFactory.for_room_version(room_version, fields)`` and
   ``EventBuilder.build(prev_event_ids, auth_event_ids=None)``
   (``hs.get_event_builder_factory()``): what make_join uses to build templates.
   With ``auth_event_ids=None`` the builder selects the auth events from the state at
   ``prev_event_ids`` (``EventAuthHandler.compute_auth_events``, plus a local
   member's out-of-band membership), sets ``depth`` from the prev events, and hashes
   and signs the result. ``create_new_client_event`` would also validate content,
   which a template does not have. An ``m.room.member`` builder needs
   ``content.membership`` to select its auth events.
4. ``DataStore.get_prev_events_for_room(room_id)``: the forward extremities (at most
   ten) new local events point at.
5. ``EventBase.get_templated_pdu_json()``: the PDU without ``signatures``, ``hashes``
   and ``unsigned``.
6. ``EventAuthHandler.check_auth_rules_from_context(event)``: the auth rules against
   the event's own auth events; raises ``AuthError`` (403).
"""

from collections.abc import Collection
from typing import Any

from synapse.api.errors import NotFoundError
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from synapse.events import EventBase
from synapse.server import HomeServer
from synapse.types import JsonDict

from msc_extensions._synapse_private.compat import uses_state_dags

__all__ = ["EventBase", "PduBuilding", "RoomVersion"]


class PduBuilding:
    """Builds PDUs as Synapse builds the events of its own users, without sending."""

    def __init__(self, hs: HomeServer) -> None:
        # Any: Synapse's @cached store methods need Synapse's own mypy plugin.
        self._store: Any = hs.get_datastores().main
        self._builders = hs.get_event_builder_factory()
        self._event_auth = hs.get_event_auth_handler()

    # (1)
    async def room_version_id(self, room_id: str) -> str | None:
        """The room's version, None when the room is unknown here."""
        try:
            version = await self._store.get_room_version_id(room_id)
        except NotFoundError:
            return None
        return str(version)

    @staticmethod
    def known_room_version(version_id: str) -> RoomVersion | None:
        """The room version, None when this server does not support it (or it is an
        experimental state-DAG version, whose events need fields no client builds)."""
        version = KNOWN_ROOM_VERSIONS.get(version_id)
        if version is None or uses_state_dags(version):
            return None
        return version

    @staticmethod
    def supported_room_versions() -> list[str]:
        """The room versions this server can build and check events of."""
        return [
            identifier
            for identifier, version in KNOWN_ROOM_VERSIONS.items()
            if not uses_state_dags(version)
        ]

    # (2)
    async def is_host_joined(self, room_id: str, host: str) -> bool:
        return bool(await self._store.is_host_joined(room_id, host))

    # (3), (4)
    async def build(
        self,
        room_version: RoomVersion,
        fields: JsonDict,
        prev_event_ids: Collection[str] | None = None,
    ) -> EventBase:
        """An event with ``fields`` (``type``, ``room_id``, ``sender``, ``content``,
        optionally ``state_key``, ``origin_server_ts``, ``redacts``), its auth
        events selected from the state at ``prev_event_ids`` (default: the room's
        forward extremities) and its depth computed from them, as this server
        would build it: hashed and signed, not persisted."""
        if prev_event_ids is None:
            prev_event_ids = await self._store.get_prev_events_for_room(
                fields["room_id"]
            )
        builder = self._builders.for_room_version(room_version, dict(fields))
        return await builder.build(
            prev_event_ids=list(prev_event_ids), auth_event_ids=None
        )

    # (5)
    @staticmethod
    def template_of(event: EventBase) -> JsonDict:
        """The event as a template: without ``content``, ``hashes``,
        ``signatures`` and ``unsigned``."""
        template = event.get_templated_pdu_json()
        template.pop("content", None)
        return template

    # (6)
    async def check_auth_rules(self, event: EventBase) -> None:
        """Raise ``AuthError`` (403) unless the auth rules allow ``event`` at its
        own auth events."""
        await self._event_auth.check_auth_rules_from_context(event)
