"""Rewriting the error code of Synapse's own error answers on a resource.

What this file relies on, and why:

1. ``JsonResource._send_error_response(failure, request)``: every error a
   ``JsonResource`` renders, Synapse's servlets' and the module's, goes through it.
   Wrapped on the resource instance, so only that listener's answers change.
2. ``SynapseError.errcode``: a plain attribute, read by the rendering that follows.
"""

from collections.abc import Collection
from typing import Any

from synapse.api.errors import SynapseError
from synapse.http.server import HttpServer, JsonResource
from twisted.python import failure

__all__ = ["rewrite_errcodes"]

#: The code a resource's answers are rewritten to, set on the resource.
_REWRITTEN_TO = "_msc_extensions_errcode"


def rewrite_errcodes(
    resource: HttpServer, codes: Collection[str], errcode: str
) -> None:
    """Make every error with one of ``codes`` that ``resource`` renders carry
    ``errcode`` instead. Installed once per resource."""
    if not isinstance(resource, JsonResource):
        return
    if getattr(resource, _REWRITTEN_TO, None) == errcode:
        return
    synapse_send_error = resource._send_error_response

    def send_error_response(f: failure.Failure, request: Any) -> None:
        if isinstance(f.value, SynapseError) and f.value.errcode in codes:
            f.value.errcode = errcode
        synapse_send_error(f, request)

    resource._send_error_response = send_error_response  # type: ignore[method-assign]
    setattr(resource, _REWRITTEN_TO, errcode)
