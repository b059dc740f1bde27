"""The one partial-state service of a homeserver, shared by every feature.

The module builds one per homeserver and hands it to every feature through the
:class:`~msc_extensions.feature.FeatureContext`. Federation endpoints that cannot
answer correctly while a room is partial-state here call :meth:`refuse_if_partial`;
callers that ask other servers and must treat MSC3895 answers apart call
:meth:`first_answer`.
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from msc_extensions._synapse_private.partial_state import PartialStateInternals
from msc_extensions._synapse_private.resources import HomeServer
from msc_extensions.partial_state.errcodes import first_answer, partial_state_error

T = TypeVar("T")


class PartialStateService:
    def __init__(self, hs: HomeServer, errcode: str) -> None:
        self.errcode = errcode
        self.internals = PartialStateInternals(hs)

    async def is_partial(self, room_id: str) -> bool:
        return await self.internals.is_partial_state_room(room_id)

    async def refuse_if_partial(self, room_id: str) -> None:
        """Raise the configured MSC3895 error (403) if ``room_id`` is partial-state
        here: for endpoints that cannot answer correctly while it is."""
        if await self.is_partial(room_id):
            raise partial_state_error(self.errcode, room_id)

    async def first_answer(
        self, destinations: Iterable[str], call: Callable[[str], Awaitable[T]]
    ) -> tuple[str, T]:
        """Ask each destination in turn until one answers; see
        :func:`~msc_extensions.partial_state.errcodes.first_answer`."""
        return await first_answer(destinations, call)
