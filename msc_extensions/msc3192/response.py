"""What the client is told about a batch: the status code and body."""

from collections.abc import Sequence
from typing import Any

from synapse.api.errors import Codes, SynapseError
from synapse.types import JsonDict

from msc_extensions.msc3192.items import BatchItem, ItemResult

#: Extra field of an error response: what went wrong with each item.
ERRORS_FIELD = "org.matrix.msc3192.errors"

Response = tuple[int, Any]


def response_for(items: Sequence[BatchItem], results: Sequence[ItemResult]) -> Response:
    """200 with the event IDs if any item produced one; otherwise 403 when every
    item was forbidden, and 400 for anything else."""
    if any(r.event_id is not None for r in results):
        return 200, [r.event_id for r in results]

    failures = [
        (item.index, r.error)
        for item, r in zip(items, results, strict=True)
        if r.error is not None
    ]
    details = [
        {"index": index, "errcode": client_errcode(error), "error": error.msg}
        for index, error in failures
    ]
    summary = "; ".join(f"item {index}: {error.msg}" for index, error in failures)
    if all(error.code == 403 for _, error in failures):
        return 403, _error_body(
            Codes.FORBIDDEN,
            f"You may not send any of these state events: {summary}",
            details,
        )
    first_other = next(error for _, error in failures if error.code != 403)
    return 400, _error_body(
        client_errcode(first_other),
        f"No state event was sent: {summary}",
        details,
    )


def client_errcode(error: SynapseError) -> str:
    """The errcode a client is told for ``error``, as Synapse answers a single
    call: for the auth rules' newer errcodes (MSC3848, such as
    ``ORG.MATRIX.MSC3848.INSUFFICIENT_POWER``), the stable one they replace."""
    errcode: str = error.error_dict(None)["errcode"]
    return errcode


def _error_body(errcode: str, error: str, details: list[JsonDict]) -> JsonDict:
    return {"errcode": errcode, "error": error, ERRORS_FIELD: details}
