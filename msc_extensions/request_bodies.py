"""Reading a client request's JSON body with a size limit of the endpoint's own."""

import os
from typing import Any

from synapse.api.errors import Codes, SynapseError
from synapse.http.servlet import (
    parse_json_object_from_request,
    parse_json_value_from_request,
)
from synapse.http.site import SynapseRequest
from synapse.types import JsonDict


def check_body_size(request: SynapseRequest, max_bytes: int) -> None:
    """400 ``M_TOO_LARGE`` when the body is over ``max_bytes``. Synapse's listener
    has already refused anything over its own, larger, request size limit."""
    content = request.content
    if content is None:
        return
    content.seek(0, os.SEEK_END)
    size = content.tell()
    content.seek(0)
    if size > max_bytes:
        raise SynapseError(
            400,
            f"The body is larger than the limit of {max_bytes} bytes",
            Codes.TOO_LARGE,
        )


def read_json_body(request: SynapseRequest, max_bytes: int) -> Any:
    """The request's JSON value, as Synapse parses it (400 ``M_NOT_JSON`` for
    anything that is not JSON, ``NaN`` and too deep nesting included), once the
    body is known to be at most ``max_bytes`` long (400 ``M_TOO_LARGE``)."""
    check_body_size(request, max_bytes)
    return parse_json_value_from_request(request)


def read_json_object_body(request: SynapseRequest, max_bytes: int) -> JsonDict:
    """As :func:`read_json_body`, for a body that must be a JSON object (400
    ``M_BAD_JSON`` otherwise)."""
    check_body_size(request, max_bytes)
    return parse_json_object_from_request(request)
