"""Private APIs for turning many stored events into PDU JSON, off the reactor and
without filling Synapse's event cache.

Synapse's ``get_events`` makes every event it reads from the database on the
reactor (parsing the row, building the event, checking its ID against its hash)
and puts it in the event cache. For the 20,000 events of a large room's state that
is seconds of reactor time, and it evicts the events the rest of the server is
using. Here the events that Synapse's caches hold are taken from there; the others
are read as rows and made on a thread of the reactor's pool, with the same checks,
and are dropped once encoded. Any event that is not plainly servable from its row
(rejected, with a redaction pointing at it, of an unknown or mismatched format) is
left to Synapse's ``get_events`` after all, so that every rule it applies still
applies.

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
5. ``synapse.federation.units.serialize_and_filter_pdus``, ``json_encoder`` and
   ``defer_to_thread``: as Synapse's own ``/state`` turns events into PDU JSON
   (dropping those with a depth outside canonical JSON's range), on a thread.
"""

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import attr
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.events import EventBase, make_event_from_dict
from synapse.federation.units import serialize_and_filter_pdus
from synapse.logging.context import defer_to_thread
from synapse.server import HomeServer
from synapse.util.json import json_encoder

from msc_extensions._synapse_private.compat import row_may_be_redacted

__all__ = ["PduJson", "StoredPdus"]

#: Event IDs looked up at a time: one database transaction, then one turn of the
#: thread. The reactor's share of a batch (the cache look-up, the SQL parameters)
#: stays at a few milliseconds.
EVENTS_PER_READ = 1000

#: Events that Synapse's ``get_events`` makes at a time, on the reactor: 200 keep
#: that step well under 100 ms on a loaded machine.
EVENTS_PER_SYNAPSE_READ = 200

T = TypeVar("T")


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
        for batch in _batches(event_ids, EVENTS_PER_READ):
            cached = await self._store._get_events_from_cache(
                batch, update_metrics=False
            )
            uncached = [event_id for event_id in batch if event_id not in cached]
            rows = await self._db_pool.runInteraction(
                "msc_extensions_stored_pdus", self._store._fetch_event_rows, uncached
            )
            from_rows = await defer_to_thread(self._reactor, _make_pdus, uncached, rows)
            del rows
            made.update(from_rows.pdus)
            auth_event_ids |= from_rows.auth_event_ids
            left = {*cached, *from_rows.left_to_synapse}
            for synapse_batch in _batches(
                [event_id for event_id in batch if event_id in left],
                EVENTS_PER_SYNAPSE_READ,
            ):
                events = await self._store.get_events_as_list(synapse_batch)
                pdus = await defer_to_thread(self._reactor, _encode_events, events)
                made.update(pdus)
                auth_event_ids.update(_auth_events_of(events))
        return PduJson(
            pdus={
                event_id: made[event_id] for event_id in event_ids if event_id in made
            },
            auth_event_ids=frozenset(auth_event_ids),
        )


def _make_pdus(event_ids: Collection[str], rows: Mapping[str, Any]) -> _RowsMade:
    """(2, 3, 5) On a thread: the PDU JSON of the events whose rows are plainly
    servable; the others are left to Synapse."""
    made = _RowsMade(pdus={}, auth_event_ids=set(), left_to_synapse=[])
    for event_id in event_ids:
        row = rows.get(event_id)
        if row is None:
            continue
        event = _event_from_row(event_id, row)
        if event is None:
            made.left_to_synapse.append(event_id)
            continue
        for pdu in serialize_and_filter_pdus([event]):
            made.pdus[event_id] = json_encoder.encode(pdu).encode("utf-8")
        made.auth_event_ids.update(event.auth_event_ids())
    return made


def _event_from_row(event_id: str, row: Any) -> EventBase | None:
    """The event a row holds, as ``get_events`` would make it; ``None`` when the
    row is anything but plain."""
    if row.rejected_reason is not None or row_may_be_redacted(row):
        return None
    room_version = KNOWN_ROOM_VERSIONS.get(row.room_version_id or "")
    if room_version is None or row.format_version != room_version.event_format:
        return None
    try:
        event = make_event_from_dict(
            event_dict=json.loads(row.json),
            room_version=room_version,
            internal_metadata_dict=json.loads(row.internal_metadata),
        )
    except Exception:
        return None
    if event.event_id != event_id:
        return None
    return event


def _encode_events(events: Sequence[EventBase]) -> dict[str, bytes]:
    """(5) On a thread: events made by Synapse, as PDU JSON."""
    pdus: dict[str, bytes] = {}
    for event in events:
        for pdu in serialize_and_filter_pdus([event]):
            pdus[event.event_id] = json_encoder.encode(pdu).encode("utf-8")
    return pdus


def _auth_events_of(events: Sequence[EventBase]) -> Iterator[str]:
    for event in events:
        yield from event.auth_event_ids()


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
