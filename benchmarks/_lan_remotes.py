"""Benchmark-only Synapse module: other homeservers as seen across a LAN.

Loaded next to msc_extensions by the inviting homeserver of the remote-invite
benchmark (``{"module": "benchmarks._lan_remotes.LanRemotes", "config":
{"servers": [...], "latency_ms": 10}}``). For the listed server names, Synapse's
federation client gets its answers here instead of over the network, each after
a fixed delay, as servers on other machines of a LAN would give them:

- ``PUT /invite`` (v2): the event, signed by that server with a real ed25519 key,
  as a homeserver signs an invite it accepts;
- ``GET /query/profile`` (the whole profile, or one field): a display name, and
  no avatar.

So the benchmark measures the inviting server's own work, plus a LAN's latency
for each request it makes, with no other homeserver competing for the machine's
CPU. Requests to other servers go out as usual.
"""

from collections.abc import Mapping
from typing import Any

from signedjson.key import generate_signing_key
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.crypto.event_signing import compute_event_signature
from synapse.logging.context import make_deferred_yieldable
from synapse.module_api import ModuleApi
from synapse.types import JsonDict
from twisted.internet.task import deferLater

from msc_extensions._synapse_private.resources import homeserver_of

MODULE = "benchmarks._lan_remotes.LanRemotes"


class LanRemotes:
    def __init__(self, config: Mapping[str, Any], api: ModuleApi) -> None:
        hs = homeserver_of(api)
        servers = frozenset(config["servers"])
        delay = config.get("latency_ms", 10) / 1000
        reactor: Any = hs.get_reactor()
        key = generate_signing_key("lan")
        transport = hs.get_federation_transport_client()
        federation = hs.get_federation_client()
        send_invite_v2 = transport.send_invite_v2
        make_query = federation.make_query

        async def wait() -> None:
            await make_deferred_yieldable(deferLater(reactor, delay, lambda: None))

        async def lan_send_invite_v2(
            destination: str, room_id: str, event_id: str, content: JsonDict
        ) -> JsonDict:
            if destination not in servers:
                return await send_invite_v2(
                    destination=destination,
                    room_id=room_id,
                    event_id=event_id,
                    content=content,
                )
            await wait()
            event = content["event"]
            version = KNOWN_ROOM_VERSIONS[content["room_version"]]
            signature = compute_event_signature(version, event, destination, key)
            return {
                "event": {**event, "signatures": {**event["signatures"], **signature}}
            }

        async def lan_make_query(
            destination: str, query_type: str, args: JsonDict, **kwargs: Any
        ) -> JsonDict:
            if destination not in servers:
                answer: JsonDict = await make_query(
                    destination, query_type, args, **kwargs
                )
                return answer
            await wait()
            # The whole profile (no ``field``), or the display name alone.
            if args.get("field") in (None, "displayname"):
                return {"displayname": args["user_id"][1:].split(":")[0]}
            return {}

        transport.send_invite_v2 = lan_send_invite_v2  # type: ignore[method-assign]
        federation.make_query = lan_make_query  # type: ignore[method-assign,assignment]

    @staticmethod
    def parse_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
        return config
