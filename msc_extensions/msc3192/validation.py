"""Turns a batch_state request body into items, or a 400 naming what is wrong.

Everything here runs before anything is written: a body that fails any check
creates no event at all. Each error names the item's index, so a client can fix
the exact entry.
"""

import json
import math
from collections.abc import Mapping
from typing import Any

from synapse.api.constants import EventTypes, Membership
from synapse.api.errors import Codes, SynapseError
from synapse.types import UserID

from msc_extensions.msc3192.items import BatchItem

#: Synapse's limits on an event's type and state key, in bytes.
MAX_TYPE_BYTES = 255
MAX_STATE_KEY_BYTES = 255
#: Synapse rejects events whose canonical JSON is over 64 KiB; content alone over
#: that can never become an event.
MAX_CONTENT_BYTES = 65536

ITEM_FIELDS = frozenset({"event_type", "state_key", "content"})

#: Memberships a client may set through the batch, as through ``PUT /state``.
MEMBERSHIPS = frozenset(
    {
        Membership.INVITE,
        Membership.JOIN,
        Membership.LEAVE,
        Membership.BAN,
        Membership.KNOCK,
    }
)


def bad_request(message: str, errcode: str = Codes.INVALID_PARAM) -> SynapseError:
    return SynapseError(400, message, errcode)


def parse_batch(body: Any, max_events: int) -> list[BatchItem]:
    """The items of a parsed JSON body, in request order.

    Raises:
        SynapseError: 400, for any problem with the body or one of its items.
    """
    if not isinstance(body, list):
        raise bad_request(
            f"The body must be a JSON array of state events, got {_json_type(body)}",
            Codes.BAD_JSON,
        )
    if not body:
        raise bad_request("The body must contain at least one state event")
    if len(body) > max_events:
        raise bad_request(
            f"The body has {len(body)} state events; at most {max_events} "
            f"are allowed in one request"
        )
    items = [parse_item(index, raw) for index, raw in enumerate(body)]
    seen: dict[tuple[str, str], int] = {}
    for item in items:
        key = (item.event_type, item.state_key)
        first = seen.setdefault(key, item.index)
        if first != item.index:
            raise bad_request(
                f"Item {item.index}: event_type {item.event_type!r} with "
                f"state_key {item.state_key!r} already appears at item {first}; "
                f"each pair may appear only once"
            )
    return items


def parse_item(index: int, raw: Any) -> BatchItem:
    where = f"Item {index}"
    if not isinstance(raw, Mapping):
        raise bad_request(
            f"{where}: must be an object, got {_json_type(raw)}", Codes.BAD_JSON
        )
    check_json_values(where, raw)
    unknown = sorted(str(key) for key in raw if key not in ITEM_FIELDS)
    if unknown:
        raise bad_request(
            f"{where}: unknown field {', '.join(unknown)}; allowed fields are "
            f"event_type, state_key and content"
        )

    event_type = raw.get("event_type")
    if event_type is None:
        raise bad_request(f"{where}: event_type is required", Codes.MISSING_PARAM)
    if not isinstance(event_type, str):
        raise bad_request(
            f"{where}: event_type must be a string, got {_json_type(event_type)}"
        )
    if not event_type:
        raise bad_request(f"{where}: event_type must not be empty")
    if len(event_type.encode("utf-8")) > MAX_TYPE_BYTES:
        raise bad_request(f"{where}: event_type is longer than {MAX_TYPE_BYTES} bytes")
    _check_no_nul(where, "event_type", event_type)

    state_key = raw.get("state_key", "")
    if not isinstance(state_key, str):
        raise bad_request(
            f"{where}: state_key must be a string, got {_json_type(state_key)}"
        )
    if len(state_key.encode("utf-8")) > MAX_STATE_KEY_BYTES:
        raise bad_request(
            f"{where}: state_key is longer than {MAX_STATE_KEY_BYTES} bytes"
        )
    _check_no_nul(where, "state_key", state_key)

    if "content" not in raw:
        raise bad_request(f"{where}: content is required", Codes.MISSING_PARAM)
    content = raw["content"]
    if not isinstance(content, Mapping):
        raise bad_request(
            f"{where}: content must be an object, got {_json_type(content)}"
        )
    content_bytes = len(
        json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    )
    if content_bytes > MAX_CONTENT_BYTES:
        raise bad_request(
            f"{where}: content is {content_bytes} bytes; an event may be at most "
            f"{MAX_CONTENT_BYTES} bytes",
            Codes.TOO_LARGE,
        )

    if event_type == EventTypes.Member:
        _check_membership(where, state_key, content)

    return BatchItem(
        index=index, event_type=event_type, state_key=state_key, content=dict(content)
    )


def _check_no_nul(where: str, field: str, value: str) -> None:
    """Synapse stores an event's type and state key as database text, which
    PostgreSQL refuses to hold a NUL character in: persisting such an event fails,
    and with it every event persisted alongside. (In content, NUL is stored as the
    JSON escape ``\\u0000`` and is fine.)"""
    if "\x00" in value:
        raise bad_request(f"{where}: {field} must not contain the NUL character")


def _check_membership(where: str, state_key: str, content: Mapping[str, Any]) -> None:
    if not UserID.is_valid(state_key):
        raise bad_request(
            f"{where}: the state_key of an m.room.member event must be a user ID, "
            f"got {state_key!r}"
        )
    membership = content.get("membership")
    if not isinstance(membership, str):
        raise bad_request(
            f"{where}: content.membership is required and must be a string",
            Codes.BAD_JSON,
        )
    if membership not in MEMBERSHIPS:
        raise bad_request(
            f"{where}: content.membership must be one of "
            f"{', '.join(sorted(MEMBERSHIPS))}, got {membership!r}"
        )


def check_json_values(where: str, value: Mapping[str, Any]) -> None:
    """Every string in ``value``, keys included, must be encodable as UTF-8 (a
    lone UTF-16 surrogate such as ``"\\ud800"`` is valid JSON but not; 400
    ``M_BAD_JSON``), and every number finite (``1e400`` reads as infinity; 400
    ``M_NOT_JSON``, as for ``NaN``, which the JSON parser already refuses).

    Checked at C speed first; only a bad value is searched for, to name it.
    """
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        pass
    else:
        return
    # Iterative, so that deep nesting costs no recursion.
    pending: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while pending:
        current, path = pending.pop()
        if isinstance(current, str):
            _check_string(where, current, path, is_key=False)
        elif isinstance(current, float) and not math.isfinite(current):
            raise bad_request(
                f"{where}: {_describe(path)} is not a finite number; JSON has no "
                f"NaN or infinity (is it out of range?)",
                Codes.NOT_JSON,
            )
        elif isinstance(current, Mapping):
            for key, member in current.items():
                _check_string(where, key, path, is_key=True)
                pending.append((member, (*path, f".{key}" if path else key)))
        elif isinstance(current, list):
            for n, member in enumerate(current):
                pending.append((member, (*path, f"[{n}]")))


def _check_string(where: str, text: str, path: tuple[str, ...], is_key: bool) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        what = f"a key in {_describe(path)}" if is_key else _describe(path)
        raise bad_request(
            f"{where}: {what} is not valid Unicode (a lone UTF-16 surrogate escape?)",
            Codes.BAD_JSON,
        ) from None


def _describe(path: tuple[str, ...]) -> str:
    """Where a value is in an item, its keys escaped (a bad key may be among
    them): ``content.list[2]``, or ``the item`` itself."""
    if not path:
        return "the item"
    return "".join(part.encode("utf-8", "backslashreplace").decode() for part in path)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
