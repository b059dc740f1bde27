"""The private APIs whose shape changed inside the supported range of Synapse
releases, each bridged here, once.

The module supports Synapse from :data:`.resources.OLDEST_SUPPORTED_SYNAPSE` to the
newest release it was tested with. The rest of ``_synapse_private`` takes each of
these names from here, so that no other file knows that Synapse releases differ and
nothing outside this package ever asks which release is running. Each shim detects
the shape it finds (an import that fails, a parameter or attribute that is missing)
rather than comparing version numbers, and names the release where the shape
changed. docs/development.md lists them too.

What this file relies on:

1. ``synapse.synapse_rust.types.Requester`` (from 1.155.0), whose
   ``app_service_id`` names the application service a request is made by; before
   that the class is ``synapse.types.Requester``, which carries the
   ``app_service`` itself (:func:`app_service_id_of`).
2. ``RoomVersion.msc4242_state_dags`` (from 1.152.0, the experimental state-DAG room
   versions of MSC4242); before that no room version has state DAGs.
3. ``FederationHandler.on_event_auth(event_id, room_id)`` (from 1.158.0, which also
   refuses an event of another room); before that it takes ``event_id`` alone, and
   the room is checked here with ``DataStore.get_event(event_id,
   check_room_id=room_id)``, which raises ``NotFoundError`` as the newer form does.
4. ``RoomSummaryHandler._build_room_entry(room_id)`` (from 1.156.0) reads only the
   join rules of the current state, which a partial-state room has in full. Before
   that it takes ``for_federation`` and, for federation, reads the whole current
   state, which waits until a partial-state room has full state: the federation
   ``/hierarchy`` of such a room waited for the resync. On those releases
   :func:`federation_hierarchy_without_full_state` wraps the method of one
   HomeServer's handler so that it reads the join rules alone, through
   ``StorageControllers.state.get_current_state_ids(room_id, state_filter)`` and
   ``EventAuthHandler.has_restricted_join_rules`` /
   ``get_rooms_that_allow_join`` (which returns a list before 1.156.0), as
   1.156.0 does.
5. ``EventBase.signatures``: from 1.153.0 Synapse's Rust ``Signatures``, copied out
   with ``as_dict()``; before that a plain ``dict``.
6. ``ResponseCache(clock=, name=, server_name=, timeout=Duration)`` (from 1.149.0;
   ``synapse.util.duration.Duration`` itself exists from 1.144.0); before that the
   time a result is kept is ``timeout_ms``, in milliseconds
   (:func:`response_cache`).
7. ``FederationHandler.send_invite(target_host, event, context)`` (from 1.162.0,
   which builds the state shown to the invitee from the context's
   ``get_current_state_ids``, as full events after MSC4311); before that
   ``send_invite(target_host, event)`` sends the ``invite_room_state`` the event
   carries in ``unsigned``, which Synapse's persist path puts there first with
   ``DataStore.get_stripped_room_state_from_event_context(context,
   room_prejoin_state, membership_user_id=sender)`` and
   ``synapse.events.utils.maybe_upsert_event_field``
   (:func:`send_invite_for_signature` does the same).
8. ``AccountDataTypes.INVITE_PERMISSION_CONFIG`` (from 1.149.0, MSC4380's invite
   rules): ``DataStore.get_invite_config_for_user`` reads this global account
   data type of every invitee, then, when it is absent and
   ``experimental_features.msc4155_enabled`` is on, MSC4155's
   ``MSC4155_INVITE_PERMISSION_CONFIG``. Before that it reads only MSC4155's, and
   only with that flag (:func:`invite_rule_account_data_types`).
9. The event rows of ``EventsWorkerStore._fetch_event_rows`` list the events that
   may redact each event: in ``unconfirmed_redactions`` and
   ``confirmed_redactions`` (from 1.151.0); before that in ``redactions``
   (:func:`row_may_be_redacted` reads every field of the row named so; a row with
   no such field, a shape not seen yet, counts as possibly redacted).
10. ``synapse.synapse_rust.events.redact_event_dict(room_version, event_dict)``
    (Synapse's redaction algorithm in Rust, from 1.155.0); before that
    ``synapse.events.utils.prune_event_dict(room_version, event_dict)``
    (:func:`redacted_event_dict`).
"""

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attr
from synapse.api.constants import AccountDataTypes, EventTypes
from synapse.api.room_versions import RoomVersion
from synapse.events import EventBase
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.types.state import StateFilter
from synapse.util.caches.response_cache import ResponseCache

if TYPE_CHECKING:
    from synapse.synapse_rust.types import Requester
else:
    try:
        from synapse.synapse_rust.types import Requester
    except ImportError:  # Synapse before 1.155.0
        from synapse.types import Requester

_redact_event_dict: Callable[[RoomVersion, JsonDict], JsonDict]
try:
    from synapse.synapse_rust.events import redact_event_dict as _redact_event_dict
except ImportError:  # Synapse before 1.155.0
    from synapse.events.utils import (  # type: ignore[attr-defined, no-redef, unused-ignore]
        prune_event_dict as _redact_event_dict,
    )

__all__ = [
    "Requester",
    "app_service_id_of",
    "event_auth_chain",
    "federation_hierarchy_without_full_state",
    "invite_rule_account_data_types",
    "redacted_event_dict",
    "response_cache",
    "row_may_be_redacted",
    "send_invite_for_signature",
    "signatures_of",
    "uses_state_dags",
]


# (1)
def app_service_id_of(requester: Requester) -> str | None:
    """The ID of the application service the request is made by, if any."""
    if hasattr(requester, "app_service_id"):
        return requester.app_service_id
    # Synapse before 1.155.0.
    app_service: Any = getattr(requester, "app_service", None)
    return None if app_service is None else str(app_service.id)


# (2)
def uses_state_dags(room_version: RoomVersion) -> bool:
    """Whether events of this room version carry a state DAG of their own
    (MSC4242). Synapse before 1.152.0 has no such room version."""
    return bool(getattr(room_version, "msc4242_state_dags", False))


# (3)
async def event_auth_chain(
    hs: HomeServer, room_id: str, event_id: str
) -> list[EventBase]:
    """The auth chain of an event of ``room_id``, the event's auth events included.

    Raises:
        NotFoundError: the event is unknown here, or in another room.
    """
    handler = hs.get_federation_handler()
    on_event_auth: Any = handler.on_event_auth
    if "room_id" in inspect.signature(on_event_auth).parameters:
        return list(await on_event_auth(event_id, room_id))
    # Synapse before 1.158.0: on_event_auth(event_id) does not check the room.
    await hs.get_datastores().main.get_event(event_id, check_room_id=room_id)
    return list(await on_event_auth(event_id))


# (4)
def federation_hierarchy_without_full_state(hs: HomeServer) -> None:
    """Make the federation ``/hierarchy`` of ``hs`` answer for a partial-state room
    without waiting for full state, as Synapse does from 1.156.0. Does nothing on
    those releases, and nothing the second time."""
    handler: Any = hs.get_room_summary_handler()
    build_room_entry = handler._build_room_entry
    if "for_federation" not in inspect.signature(build_room_entry).parameters:
        return
    if getattr(build_room_entry, "_msc_extensions_wrapped", False):
        return
    # Synapse before 1.156.0.
    state = hs.get_storage_controllers().state
    store: Any = hs.get_datastores().main
    event_auth: Any = hs.get_event_auth_handler()

    async def build_room_entry_from_join_rules(
        room_id: str, for_federation: bool
    ) -> JsonDict:
        entry: JsonDict = await build_room_entry(room_id, for_federation=False)
        if not for_federation:
            return entry
        # What federation needs besides: the rooms a restricted room admits from.
        join_rules = await state.get_current_state_ids(
            room_id, state_filter=StateFilter.from_types([(EventTypes.JoinRules, "")])
        )
        room_version = await store.get_room_version(room_id)
        if await event_auth.has_restricted_join_rules(join_rules, room_version):
            allowed_rooms = await event_auth.get_rooms_that_allow_join(join_rules)
            if allowed_rooms:
                entry["allowed_room_ids"] = allowed_rooms
        return entry

    build_room_entry_from_join_rules._msc_extensions_wrapped = True  # type: ignore[attr-defined]
    handler._build_room_entry = build_room_entry_from_join_rules


# (5)
def signatures_of(event: EventBase) -> dict[str, dict[str, str]]:
    """A copy of the event's signatures: server name to key ID to signature."""
    signatures: Any = event.signatures
    if isinstance(signatures, dict):  # Synapse before 1.153.0
        return {server: dict(by_key) for server, by_key in signatures.items()}
    return dict(signatures.as_dict())


# (6)
def response_cache(hs: HomeServer, name: str, window_ms: int) -> ResponseCache[Any]:
    """Synapse's ``ResponseCache``, keeping each result for ``window_ms`` after it
    completes."""
    parameters = inspect.signature(ResponseCache.__init__).parameters
    if "timeout" not in parameters:  # Synapse before 1.149.0
        build: Any = ResponseCache
        cache: ResponseCache[Any] = build(
            clock=hs.get_clock(),
            name=name,
            server_name=hs.hostname,
            timeout_ms=window_ms,
        )
        return cache
    from synapse.util.duration import Duration

    return ResponseCache(
        clock=hs.get_clock(),
        name=name,
        server_name=hs.hostname,
        timeout=Duration(milliseconds=window_ms),
    )


# (7)
async def send_invite_for_signature(
    hs: HomeServer,
    prejoin_state: StateFilter,
    target_host: str,
    event: EventBase,
    context: Any,
) -> EventBase:
    """Ask ``target_host`` to sign ``event``, an invite of one of its users, with
    the room's state shown to the invitee taken from ``context``; the signed
    event it answers.

    Raises:
        SynapseError: as ``FederationHandler.send_invite`` raises.
    """
    handler: Any = hs.get_federation_handler()
    parameters = inspect.signature(type(handler).send_invite).parameters
    if "context" in parameters:
        signed: EventBase = await handler.send_invite(target_host, event, context)
        return signed
    # Synapse before 1.162.0: the invitee's preview travels in the event.
    from synapse.events.utils import maybe_upsert_event_field

    store: Any = hs.get_datastores().main
    maybe_upsert_event_field(
        event,
        event.unsigned,
        "invite_room_state",
        await store.get_stripped_room_state_from_event_context(
            context, prejoin_state, membership_user_id=event.sender
        ),
    )
    signed = await handler.send_invite(target_host, event)
    return signed


# (8)
def invite_rule_account_data_types(hs: HomeServer) -> tuple[str, ...]:
    """The global account data types in which Synapse looks up a user's invite
    rules."""
    types: list[str] = []
    stable: str | None = getattr(AccountDataTypes, "INVITE_PERMISSION_CONFIG", None)
    if stable is not None:
        types.append(stable)
    if hs.config.experimental.msc4155_enabled:
        types.append(AccountDataTypes.MSC4155_INVITE_PERMISSION_CONFIG)
    return tuple(types)


# (9)
def row_may_be_redacted(row: Any) -> bool:
    """Whether an event row of ``_fetch_event_rows`` names any event that may
    redact it."""
    row_class = type(row)
    redaction_fields = _REDACTION_FIELDS.get(row_class)
    if redaction_fields is None:
        # Read once per class, not once per row (a large room's state is tens of
        # thousands of rows).
        redaction_fields = tuple(
            field.name for field in attr.fields(row_class) if "redactions" in field.name
        )
        _REDACTION_FIELDS[row_class] = redaction_fields
    if not redaction_fields:
        return True
    return any(getattr(row, name) for name in redaction_fields)


#: The redaction fields of each event row class seen.
_REDACTION_FIELDS: dict[type, tuple[str, ...]] = {}


# (10)
def redacted_event_dict(room_version: RoomVersion, event_dict: JsonDict) -> JsonDict:
    """A copy of an event's dict with what a redaction removes removed."""
    return _redact_event_dict(room_version, event_dict)
