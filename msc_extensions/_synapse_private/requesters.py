"""Private APIs about who sends a request.

What this file relies on:

1. Synapse's ``Requester`` (its module moved in 1.155.0; :mod:`.compat` finds it):
   the rest of the module takes it from here.
2. ``Auth.is_server_admin(requester)`` (``hs.get_auth()``): the admin check
   Synapse's own servlets make, which also knows delegated (MSC3861) auth, where
   ``ModuleApi.is_user_admin`` reads only the local ``users`` table.
3. ``synapse.util.events.generate_fake_event_id``: what Synapse answers a
   shadow-banned user instead of sending their event.
"""

from synapse.server import HomeServer
from synapse.util.events import generate_fake_event_id

from msc_extensions._synapse_private.compat import Requester

__all__ = ["Requester", "ServerAdmins", "fake_event_id"]


class ServerAdmins:
    """Tells server admins apart, as Synapse's own servlets do."""

    def __init__(self, hs: HomeServer) -> None:
        self._auth = hs.get_auth()

    async def is_server_admin(self, requester: Requester) -> bool:
        return await self._auth.is_server_admin(requester)


def fake_event_id() -> str:
    """An event ID that looks real, for a shadow-banned user whose event is not
    sent: they must not be able to tell."""
    return generate_fake_event_id()
