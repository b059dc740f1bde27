"""Private APIs for turning many stored events into PDU JSON, off the reactor and
without filling Synapse's event cache.

Synapse's ``get_events`` makes every event it reads from the database on the
reactor (parsing the row, building the event, checking its ID against its hash)
and puts it in the event cache. For the 20,000 events of a large room's state that
is seconds of reactor time, and it evicts the events the rest of the server is
using. Here the events that Synapse's caches hold are taken from there; the others
are read as rows and checked on a thread of the reactor's pool, and are dropped
once encoded. Any event that is not plainly servable from its row (rejected, with
a redaction pointing at it, of an unknown or mismatched format, no longer hashing
to its ID) is left to Synapse's ``get_events`` after all, so that every rule it
applies still applies.

What this file relies on:

1. ``EventsWorkerStore._get_events_from_cache(event_ids, update_metrics)``: the
   events Synapse's in-memory (and external) event caches hold, without reading
   the database.
2. ``EventsWorkerStore._fetch_event_rows(txn, event_ids)``, run through
   ``DatabasePool.runInteraction``: the rows ``get_events`` makes events from, by
   event ID (``_EventRow``: ``json``, ``internal_metadata``, ``format_version``,
   ``room_version_id``, ``rejected_reason`` and the IDs of the events that may
   redact it, in the fields :func:`.compat.row_may_be_redacted` reads). Events
   without a row are left out, as ``get_events`` leaves them out.
3. ``synapse.api.room_versions.KNOWN_ROOM_VERSIONS`` and
   ``synapse.events.make_event_from_dict(event_dict, room_version,
   internal_metadata_dict)``, whose ``event_id`` is computed from the content's
   hash in room versions 3 and later: ``get_events`` refuses an event whose row no
   longer hashes to its ID (``DatabaseCorruptionError``); such a row is left to it
   here, so that the answer fails as Synapse's would.
4. ``EventsWorkerStore.get_events_as_list(event_ids)``: every other event, with
   Synapse's redaction and rejection rules.
5. ``synapse.federation.units.serialize_and_filter_pdus`` and
   ``filter_pdus_for_valid_depth``, ``json_encoder`` and ``defer_to_thread``: as
   Synapse's own ``/state`` turns events into PDU JSON (dropping those with a depth
   outside canonical JSON's range), on a thread; ``synapse.util.iterutils.batch_iter``
   for the batches.
6. What Synapse stores in ``event_json.json`` is the event's PDU as it serves it
   (``get_pdu_json`` of an event made from that row gives it back), as long as
   ``unsigned`` holds only :data:`UNSIGNED_AS_STORED`; and an event's ID in room
   versions 3 and later is the base64 of the SHA-256 of the canonical JSON of its
   redacted form (:func:`.compat.redacted_event_dict`) without ``signatures``,
   ``unsigned`` and ``age_ts``, as ``compute_event_reference_hash`` makes it. A
   row that passes both is served as it is stored, without making an event (the
   costliest step). Any other is made into an event (3).
7. ``EventBase.auth_event_ids()`` of an event of a room version with MSC4291's
   room IDs adds the room's create event, whose ID is the room ID with ``$`` for
   ``!``, to every event but that create event; :func:`_auth_event_ids` does the
   same for events served as stored.
"""

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import attr
from canonicaljson import encode_canonical_json
from synapse.api.constants import EventTypes
from synapse.api.room_versions import (
    KNOWN_ROOM_VERSIONS,
    EventFormatVersions,
    RoomVersion,
)
from synapse.events import EventBase, make_event_from_dict
from synapse.federation.units import (
    filter_pdus_for_valid_depth,
    serialize_and_filter_pdus,
)
from synapse.logging.context import defer_to_thread
from synapse.server import HomeServer
from synapse.types import JsonDict
from synapse.util.iterutils import batch_iter
from synapse.util.json import json_encoder
from unpaddedbase64 import encode_base64

from msc_extensions._synapse_private.compat import (
    redacted_event_dict,
    row_may_be_redacted,
)

__all__ = ["PduJson", "StoredPdus"]

#: Event IDs looked up at a time: one database transaction, then one turn of the
#: thread. The reactor's share of a batch (the cache look-up, the SQL parameters)
#: stays at a few milliseconds.
EVENTS_PER_READ = 1000

#: Events left to Synapse's ``get_events`` after their rows were read (rejected,
#: redacted, ...), made by it at a time, on the reactor: 200 keep that step well
#: under 100 ms on a loaded machine.
EVENTS_PER_SYNAPSE_READ = 200

#: The fields of ``unsigned`` that a stored event may hold for its stored JSON to
#: be its PDU as it is: what Synapse stores there, and serves unchanged. Rows with
#: any other field (written by older releases) are made into events and
#: serialised by Synapse.
UNSIGNED_AS_STORED = frozenset(
    {"age_ts", "replaces_state", "invite_room_state", "knock_room_state"}
)

#: Event formats whose IDs are the hash of the redacted event, and whether that
#: hash is written in URL-safe base64 (room versions 4 and later) or not (3).
_EVENT_ID_ENCODINGS = {
    EventFormatVersions.ROOM_V3: False,
    EventFormatVersions.ROOM_V4_PLUS: True,
    EventFormatVersions.ROOM_V11_HYDRA_PLUS: True,
}


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PduJson:
    """Some events as PDUs, each encoded as JSON."""

    #: PDU JSON by event ID, in the order asked for. Events that Synapse would not
    #: serve (unknown, rejected, of an unknown room version, with an invalid depth)
    #: are not in it.
    pdus: dict[str, bytes]
    #: The IDs of the auth events that these PDUs name.
    auth_event_ids: frozenset[str]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _RowsMade:
    """What the thread made of a batch of rows."""

    pdus: dict[str, bytes]
    auth_event_ids: set[str]
    #: Rows left to Synapse's ``get_events``.
    left_to_synapse: list[str]


class StoredPdus:
    """Many events as PDU JSON: what Synapse's ``/state`` would serve for them."""

    def __init__(self, hs: HomeServer) -> None:
        self._reactor = hs.get_reactor()
        # Any: Synapse's store methods used here are private and partly untyped.
        self._store: Any = hs.get_datastores().main
        self._db_pool = self._store.db_pool

    async def read(self, event_ids: Sequence[str]) -> PduJson:
        made: dict[str, bytes] = {}
        auth_event_ids: set[str] = set()
        for batch in batch_iter(event_ids, EVENTS_PER_READ):
            cached = await self._store._get_events_from_cache(
                batch, update_metrics=False
            )
            from_rows = await self._from_rows(
                [event_id for event_id in batch if event_id not in cached]
            )
            made.update(from_rows.pdus)
            auth_event_ids |= from_rows.auth_event_ids
            # Events the cache holds come from there in one go; rows left to
            # Synapse are made by it on the reactor, a few at a time.
            events = await self._store.get_events_as_list(
                [event_id for event_id in batch if event_id in cached]
            )
            for left in batch_iter(from_rows.left_to_synapse, EVENTS_PER_SYNAPSE_READ):
                events += await self._store.get_events_as_list(left)
            if events:
                made.update(
                    await defer_to_thread(self._reactor, _encode_events, events)
                )
                auth_event_ids.update(_auth_events_of(events))
        return PduJson(
            pdus={
                event_id: made[event_id] for event_id in event_ids if event_id in made
            },
            auth_event_ids=frozenset(auth_event_ids),
        )

    async def _from_rows(self, event_ids: Sequence[str]) -> _RowsMade:
        """(2, 3) The events read as rows and made on a thread."""
        if not event_ids:
            return _RowsMade(pdus={}, auth_event_ids=set(), left_to_synapse=[])
        rows = await self._db_pool.runInteraction(
            "msc_extensions_stored_pdus", self._store._fetch_event_rows, event_ids
        )
        made: _RowsMade = await defer_to_thread(
            self._reactor, _make_pdus, event_ids, rows
        )
        return made


def _make_pdus(event_ids: Collection[str], rows: Mapping[str, Any]) -> _RowsMade:
    """(2, 3, 5) On a thread: the PDU JSON of the events whose rows are plainly
    servable; the others are left to Synapse."""
    made = _RowsMade(pdus={}, auth_event_ids=set(), left_to_synapse=[])
    for event_id in event_ids:
        row = rows.get(event_id)
        if row is None:
            continue
        room_version = _plain_row_room_version(row)
        try:
            event_dict = None if room_version is None else json.loads(row.json)
        except ValueError:
            event_dict = None
        if room_version is None or not isinstance(event_dict, dict):
            made.left_to_synapse.append(event_id)
            continue
        auth_event_ids = _auth_events_if_servable_as_stored(
            event_id, event_dict, room_version
        )
        if auth_event_ids is not None:
            made.pdus[event_id] = row.json.encode("utf-8")
            made.auth_event_ids.update(auth_event_ids)
            continue
        event = _event_from_row(event_id, event_dict, room_version, row)
        if event is None:
            made.left_to_synapse.append(event_id)
            continue
        made.pdus.update(_encode_events([event]))
        made.auth_event_ids.update(event.auth_event_ids())
    return made


def _plain_row_room_version(row: Any) -> RoomVersion | None:
    """The room version of a row that is neither rejected nor named by a
    redaction, and whose format is its room version's; ``None`` for any other."""
    if row.rejected_reason is not None or row_may_be_redacted(row):
        return None
    room_version = KNOWN_ROOM_VERSIONS.get(row.room_version_id or "")
    if room_version is None or row.format_version != room_version.event_format:
        return None
    return room_version


def _auth_events_if_servable_as_stored(
    event_id: str, event_dict: JsonDict, room_version: RoomVersion
) -> list[str] | None:
    """(6, 7) The IDs of the event's auth events, when the stored JSON is, as it
    is, the PDU Synapse would serve, and the event's ID is the hash of what is
    stored; else ``None``."""
    urlsafe = _EVENT_ID_ENCODINGS.get(room_version.event_format)
    if urlsafe is None:
        return None
    unsigned = event_dict.get("unsigned", {})
    if not isinstance(unsigned, dict) or not unsigned.keys() <= UNSIGNED_AS_STORED:
        return None
    if not filter_pdus_for_valid_depth([event_dict]):
        return None
    auth_event_ids = _auth_event_ids(event_dict, room_version)
    if auth_event_ids is None:
        return None
    if _reference_event_id(event_dict, room_version, urlsafe) != event_id:
        return None
    return auth_event_ids


def _auth_event_ids(
    event_dict: JsonDict, room_version: RoomVersion
) -> list[str] | None:
    """(7) The IDs of an event's auth events: those it lists, and in room versions
    whose room IDs are the hash of their create event (MSC4291), that create event,
    which every other event of the room has as an auth event without listing it.
    ``None`` for a malformed event."""
    listed = event_dict.get("auth_events")
    if not isinstance(listed, list) or not all(isinstance(i, str) for i in listed):
        return None
    if room_version.event_format != EventFormatVersions.ROOM_V11_HYDRA_PLUS:
        return listed
    if (
        event_dict.get("type") == EventTypes.Create
        and event_dict.get("state_key") == ""
    ):
        return listed
    room_id = event_dict.get("room_id")
    if not isinstance(room_id, str) or not room_id.startswith("!"):
        return None
    return [*listed, "$" + room_id[1:]]


def _reference_event_id(
    event_dict: JsonDict, room_version: RoomVersion, urlsafe: bool
) -> str:
    """(6) The ID of an event of room version 3 or later: the hash of its redacted
    form without signatures and unsigned data."""
    redacted = redacted_event_dict(room_version, event_dict)
    for field in ("signatures", "unsigned", "age_ts"):
        redacted.pop(field, None)
    digest = hashlib.sha256(encode_canonical_json(redacted)).digest()
    return "$" + encode_base64(digest, urlsafe=urlsafe)


def _event_from_row(
    event_id: str, event_dict: JsonDict, room_version: RoomVersion, row: Any
) -> EventBase | None:
    """(3) The event a row holds, as ``get_events`` makes it; ``None`` when it
    cannot be made or no longer hashes to its ID."""
    try:
        event = make_event_from_dict(
            event_dict=event_dict,
            room_version=room_version,
            internal_metadata_dict=json.loads(row.internal_metadata),
        )
    except Exception:
        return None
    if event.event_id != event_id:
        return None
    return event


def _encode_events(events: Sequence[EventBase]) -> dict[str, bytes]:
    """(5) On a thread: events as Synapse's ``/state`` serialises them, as PDU
    JSON (those of an invalid depth left out)."""
    pdus: dict[str, bytes] = {}
    for event in events:
        for pdu in serialize_and_filter_pdus([event]):
            pdus[event.event_id] = json_encoder.encode(pdu).encode("utf-8")
    return pdus


def _auth_events_of(events: Sequence[EventBase]) -> Iterator[str]:
    for event in events:
        yield from event.auth_event_ids()
