"""Rewriting the error code of Synapse's own error answers on a resource.

What this file relies on, and why:

1. ``JsonResource._send_error_response(failure, request)``: every error a
   ``JsonResource`` renders, Synapse's servlets' and the module's, goes through it.
   Wrapped on the resource instance, so only that listener's answers change.
2. ``SynapseError.errcode``: a plain attribute, read by the rendering that follows.
3. ``SynapseRequest.request_metrics.name``: the servlet's class name, as Synapse's
   HTTP metrics label the request (``servlet``), set before the servlet runs.
"""

from collections.abc import Callable, Collection
from typing import Any

from synapse.api.errors import SynapseError
from synapse.http.server import HttpServer, JsonResource
from twisted.python import failure

__all__ = ["rewrite_errcodes"]

#: The code a resource's answers are rewritten to, set on the resource.
_REWRITTEN_TO = "_msc_extensions_errcode"


def rewrite_errcodes(
    resource: HttpServer,
    codes: Collection[str],
    errcode: str,
    on_rewritten: Callable[[str], None] | None = None,
) -> None:
    """Make every error with one of ``codes`` that ``resource`` renders carry
    ``errcode`` instead, and tell ``on_rewritten`` the name of the servlet that
    answered it (as Synapse's HTTP metrics name it). Installed once per resource."""
    if not isinstance(resource, JsonResource):
        return
    if getattr(resource, _REWRITTEN_TO, None) == errcode:
        return
    synapse_send_error = resource._send_error_response

    def send_error_response(f: failure.Failure, request: Any) -> None:
        if isinstance(f.value, SynapseError) and f.value.errcode in codes:
            f.value.errcode = errcode
            if on_rewritten is not None:
                on_rewritten(servlet_name(request))
        synapse_send_error(f, request)

    resource._send_error_response = send_error_response  # type: ignore[method-assign]
    setattr(resource, _REWRITTEN_TO, errcode)


def servlet_name(request: Any) -> str:
    """The servlet that answers ``request``, as Synapse's HTTP metrics name it."""
    metrics = getattr(request, "request_metrics", None)
    name = getattr(metrics, "name", None)
    return name if isinstance(name, str) else "unknown"
