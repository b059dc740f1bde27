"""What an item comes to when sending it raises: the one place where an exception
becomes an item's result, and where shadow-banned users are answered."""

import logging
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from synapse.api.errors import Codes, ShadowBanError, SynapseError

from msc_extensions._synapse_private.requesters import fake_event_id
from msc_extensions.msc3192.items import BatchItem, ItemResult

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: What the client is told about an item that failed for a reason that is not a
#: Matrix error; the server log has the traceback.
INTERNAL_ERROR = "Internal error while sending this item"


def shadow_banned() -> ItemResult:
    """An item of a shadow-banned user: an event ID that looks real, and nothing
    sent, as ``PUT /state`` answers them."""
    return ItemResult.sent(fake_event_id())


def result_for_exception(
    error: Exception, room_id: str, items: Sequence[BatchItem]
) -> ItemResult:
    """What ``items`` come to when sending them raised ``error``: a fake event ID
    for a shadow-banned user, the Matrix error for a ``SynapseError``, and for
    anything else a logged internal error."""
    indexes = ", ".join(str(item.index) for item in items)
    if isinstance(error, ShadowBanError):
        return shadow_banned()
    if isinstance(error, SynapseError):
        logger.info("batch_state item %s in %s: %s", indexes, room_id, error)
        return ItemResult.failed(error)
    logger.error("batch_state item %s in %s", indexes, room_id, exc_info=error)
    return ItemResult.failed(SynapseError(500, INTERNAL_ERROR, Codes.UNKNOWN))


async def attempt(
    room_id: str, items: Sequence[BatchItem], step: Awaitable[T]
) -> T | ItemResult:
    """Await ``step``, the sending of ``items``; if it raises, what they come to
    instead (:func:`result_for_exception`)."""
    try:
        return await step
    except Exception as e:
        return result_for_exception(e, room_id, items)
