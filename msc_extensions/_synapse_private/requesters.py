"""Private APIs about who sends a request.

What this file relies on:

1. Synapse's ``Requester`` (its module moved in 1.155.0; :mod:`.compat` finds it):
   the rest of the module takes it from here.
2. ``Auth.is_server_admin(requester)`` (``hs.get_auth()``): the admin check
   Synapse's own servlets make, which also knows delegated (MSC3861) auth, where
   ``ModuleApi.is_user_admin`` reads only the local ``users`` table.
3. ``synapse.util.events.generate_fake_event_id``: what Synapse answers a
   shadow-banned user instead of sending their event.
4. ``DataStore.get_user_suspended_status(user_id)`` and
   ``Requester.authenticated_entity``: ``update_membership`` refuses invites from
   suspended accounts, unless the server itself acts for the user.
"""

from typing import Protocol, cast

from synapse.server import HomeServer
from synapse.util.events import generate_fake_event_id

from msc_extensions._synapse_private.compat import Requester

__all__ = ["AccountStatus", "Requester", "ServerAdmins", "fake_event_id"]


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


class _CachedAccountReads(Protocol):
    """Cached store methods, typed as called."""

    async def get_user_suspended_status(self, user_id: str) -> bool: ...


class AccountStatus:
    """Whether an account may act, as ``update_membership`` asks."""

    def __init__(self, hs: HomeServer) -> None:
        self._store = cast(_CachedAccountReads, hs.get_datastores().main)
        self._server_name = hs.hostname

    async def is_suspended(self, requester: Requester) -> bool:
        """Whether the requester's account is suspended, for a request the server
        does not make on the user's behalf (those ignore suspension)."""
        if requester.authenticated_entity == self._server_name:
            return False
        return await self._store.get_user_suspended_status(requester.user.to_string())
