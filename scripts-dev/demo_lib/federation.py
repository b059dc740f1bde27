"""``scripts-dev/demo --federation``: homeservers A and B federating over TLS on
loopback, every feature on, a room on A that B joined with partial state, and
another to which A's user invited B's.

A's server name points at the fault proxy, which forwards to A's own TLS listener;
B's names its TLS listener. Both use self-signed certificates (servers do not check
each other's, as in the end-to-end tests). Ports, from ``--port`` (8480) on:

====  ===========================================
+0    A's client listener
+1    A's server name: the fault proxy
+2    A's metrics listener
+3    B's client listener
+4    B's server name: its federation listener
+5    B's metrics listener
+6    the switch (A reachable from B or not)
+7    A's federation listener, behind the proxy
====  ===========================================
"""

import shutil
from dataclasses import dataclass, fields
from typing import Any

from demo_lib.federation_output import Running, sections
from demo_lib.files import ServerFiles, ServerSetup
from demo_lib.invite_room import pending_invite
from demo_lib.options import Options
from demo_lib.output import Section, say
from demo_lib.partial_room import Side, partial_room
from demo_lib.ports import DemoError, Port, check_free
from demo_lib.servers import DemoServer, Launched
from demo_lib.switch import Switch, make_unreachable, refuse_state
from demo_lib.users import account
from tests.e2e.client import JsonClient
from tests.e2e.config import LOOPBACK
from tests.e2e.tls_proxy import FederationProxy

#: Short waits, so that the recovery can be watched; the defaults are 1m and 1h.
RESYNC_INTERVAL = "10s"
MODULE_CONFIG: dict[str, Any] = {
    "msc3902": {"resync_interval": RESYNC_INTERVAL, "max_resync_interval": "1m"}
}
A_MEMBERS = ("member1", "member2", "member3", "member4")


@dataclass(frozen=True)
class FederationPorts:
    """The ports, in the order of the table above."""

    a_client: int
    a_name: int
    a_metrics: int
    b_client: int
    b_name: int
    b_metrics: int
    switch: int
    a_listener: int

    @classmethod
    def from_first(cls, first: int) -> "FederationPorts":
        return cls(*range(first, first + len(fields(cls))))

    def all(self) -> list[Port]:
        return [
            Port(self.a_client, "A's client listener"),
            Port(self.a_name, "A's server name: the fault proxy"),
            Port(self.a_metrics, "A's metrics listener"),
            Port(self.b_client, "B's client listener"),
            Port(self.b_name, "B's server name: its federation listener"),
            Port(self.b_metrics, "B's metrics listener"),
            Port(self.switch, "the switch"),
            Port(self.a_listener, "A's federation listener, behind the proxy"),
        ]


def _setups(ports: FederationPorts) -> tuple[ServerSetup, ServerSetup]:
    a = ServerSetup(
        f"{LOOPBACK}:{ports.a_name}",
        client_port=ports.a_client,
        metrics_port=ports.a_metrics,
        federation_port=ports.a_listener,
        module_config=MODULE_CONFIG,
    )
    b = ServerSetup(
        f"{LOOPBACK}:{ports.b_name}",
        client_port=ports.b_client,
        metrics_port=ports.b_metrics,
        federation_port=ports.b_name,
        module_config=MODULE_CONFIG,
    )
    return a, b


def _check_names_kept(
    a_files: ServerFiles, a_setup: ServerSetup, ports: FederationPorts
) -> None:
    """A server's name holds its port and cannot change once it has a database:
    an earlier run's servers need that run's ports."""
    previous = a_files.previous_server_name()
    if previous is None or previous == a_setup.server_name:
        return
    first = int(previous.rsplit(":", 1)[1]) - (ports.a_name - ports.a_client)
    raise DemoError(
        f"{a_files.directory.parent} holds servers made with --port {first} (A is "
        f"{previous}), and a server's name, which holds its port, cannot change. "
        f"Run with --port {first}, or add --fresh to start from scratch on ports "
        f"from {ports.a_client}."
    )


def _server(
    name: str, files: ServerFiles, client_port: int, tls_port: int
) -> DemoServer:
    url = f"http://{LOOPBACK}:{client_port}"
    return DemoServer(
        name,
        files,
        url,
        [url + "/health", f"https://{LOOPBACK}:{tls_port}/_matrix/key/v2/server"],
    )


async def run_federation(
    options: Options, client: JsonClient, launched: Launched
) -> list[Section]:
    """Starts A, B, the proxy and the switch, and prepares the room; returns what
    to print."""
    ports = FederationPorts.from_first(options.port)
    check_free(ports.all(), "Pick other ports with --port N (the demo uses N to N+7).")
    a_files = ServerFiles(options.mode_dir / "a")
    b_files = ServerFiles(options.mode_dir / "b")
    a_setup, b_setup = _setups(ports)
    if options.fresh:
        shutil.rmtree(options.mode_dir, ignore_errors=True)
    else:
        _check_names_kept(a_files, a_setup, ports)
    written = a_files.write(a_setup) + b_files.write(b_setup)
    a_secret, b_secret = a_files.shared_secret(), b_files.shared_secret()

    say(f"Starting homeservers A ({a_setup.server_name}) and B ({b_setup.server_name})")
    proxy = await FederationProxy.start(None, a_files.directory, port=ports.a_name)
    launched.add_cleanup(proxy.stop)
    proxy.backend_url = f"https://{LOOPBACK}:{ports.a_listener}"
    refuse_state(proxy)
    a = _server("A", a_files, ports.a_client, ports.a_listener)
    b = _server("B", b_files, ports.b_client, ports.b_name)
    for server in (a, b):
        server.launch()
        launched.add_server(server)
    for server in (a, b):
        await server.wait_until_ready(client)

    alice = await account(client, a.client_url, a_secret, "alice", admin=True)
    members = [
        await account(client, a.client_url, a_secret, name) for name in A_MEMBERS
    ]
    bob = await account(client, b.client_url, b_secret, "bob", admin=True)
    a_side = Side(a_setup.server_name, a.client_url, alice)
    b_side = Side(b_setup.server_name, b.client_url, bob)
    room = await partial_room(client, a_side, members, b_side, proxy)
    invite_room_id = await pending_invite(client, a_side, b_side)
    make_unreachable(proxy)
    switch = await Switch.start(ports.switch, proxy)
    launched.add_cleanup(switch.stop)
    return sections(
        Running(
            a=a,
            b=b,
            a_name=a_setup.server_name,
            b_name=b_setup.server_name,
            a_secret=a_secret,
            b_secret=b_secret,
            alice=alice,
            bob=bob,
            room=room,
            invite_room_id=invite_room_id,
            switch=switch,
            b_metrics_port=ports.b_metrics,
            written=written,
        )
    )
