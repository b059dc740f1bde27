"""Reading a failed resync: what to record of it, and whether any server answered.

Synapse wraps the remote's answer in its own errors (``FederationError`` caused by
``RequestSendFailed`` caused by ``HttpResponseException``, say); both functions walk
that chain of causes.
"""

from collections.abc import Iterator

from synapse.api.errors import CodeMessageException, RequestSendFailed

from msc_extensions._synapse_private.destinations import NotRetryingDestination

#: The most causes :func:`describe` names.
_MAX_PARTS = 4


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, what caused it, what caused that, ...: each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def unreachable(error: BaseException) -> bool:
    """Whether no server answered at all: the failure's causes hold no HTTP
    answer (Synapse wraps connection failures, time-outs and its own refusal to
    contact a backed-off server in ``RequestSendFailed`` or
    ``NotRetryingDestination``)."""
    no_answer = False
    for cause in _causes(error):
        if isinstance(cause, CodeMessageException):
            return False
        if isinstance(cause, (RequestSendFailed, NotRetryingDestination)):
            no_answer = True
    return no_answer


def describe(error: BaseException) -> str:
    """The error and what caused it: Synapse wraps the remote's answer."""
    parts = [f"{type(c).__name__}: {c}" for c in _causes(error)][:_MAX_PARTS]
    return parts[0] + "".join(f" (caused by {p})" for p in parts[1:])
