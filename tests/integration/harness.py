"""Harness test cases for homeservers that load msc_extensions from their config.

The resources are built the way a real process builds a listener's: a
``ClientRestResource``, an admin ``JsonResource`` filled by
``synapse.rest.admin.register_servlets`` and a ``TransportLayerServer``. So the
module's servlets arrive through the same hooks as in a real homeserver, rather than
being listed by the test.
"""

from typing import Any

import synapse.rest.admin
from synapse.federation.transport.server import TransportLayerServer
from synapse.http.server import JsonResource
from synapse.rest import ClientRestResource
from synapse.types import JsonDict
from twisted.web.resource import Resource

from tests import unittest

MODULE = "msc_extensions.MscExtensions"


def module_config(config: JsonDict | None = None) -> list[JsonDict]:
    """The ``modules`` list of a homeserver config that loads this module."""
    return [{"module": MODULE, "config": config or {}}]


class ModuleTestCase(unittest.FederatingHomeserverTestCase):
    """A homeserver with the module loaded, served as a real listener serves it.

    Subclasses set ``module_settings`` for the module's own config.
    """

    module_settings: JsonDict = {}

    def default_config(self) -> JsonDict:
        config = super().default_config()
        config["modules"] = module_config(self.module_settings)
        return config

    def create_resource_dict(self) -> dict[str, Resource]:
        admin_resource = JsonResource(self.hs, canonical_json=False)
        synapse.rest.admin.register_servlets(self.hs, admin_resource)
        return {
            "/_matrix/client": ClientRestResource(self.hs),
            "/_synapse/admin": admin_resource,
            "/_matrix/federation": TransportLayerServer(self.hs),
        }

    def register_admin(self, localpart: str = "admin") -> tuple[str, str]:
        user_id = self.register_user(localpart, "password", admin=True)
        return user_id, self.login(localpart, "password")

    def register_member(self, localpart: str) -> tuple[str, str]:
        user_id = self.register_user(localpart, "password")
        return user_id, self.login(localpart, "password")

    def request_json(
        self,
        method: str,
        path: str,
        content: Any = None,
        access_token: str | None = None,
    ) -> tuple[int, Any]:
        channel = self.make_request(
            method,
            path,
            content=content if content is not None else b"",
            access_token=access_token,
        )
        return channel.code, channel.json_body if channel.result.get("body") else None
