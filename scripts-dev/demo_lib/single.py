"""``scripts-dev/demo``: one homeserver, ``localhost``, with every feature on.

Ports: the client listener on ``--port`` (8008), Synapse's metrics listener on the
next one. An admin account ``demo``, and a room (``#msc-extensions-demo:localhost``)
to send batch state to (MSC3192).
"""

import json
import shutil
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from demo_lib.files import ServerFiles, ServerSetup, configuration_section
from demo_lib.metrics import metrics_command, metrics_notes
from demo_lib.options import Options
from demo_lib.output import Command, Section, bearer, say, shown, venv_script
from demo_lib.ports import DemoError, Port, check_free
from demo_lib.servers import DemoServer, Launched
from demo_lib.users import PASSWORD, Account, account
from tests.e2e.client import JsonClient

SERVER_NAME = "localhost"
ROOM_ALIAS = "msc-extensions-demo"
BATCH: list[dict[str, Any]] = [
    {"event_type": "m.room.topic", "content": {"topic": "set in a batch"}},
    {
        "event_type": "org.example.setting",
        "state_key": "colour",
        "content": {"value": "blue"},
    },
]


@dataclass(frozen=True)
class SinglePorts:
    client: int
    metrics: int

    @classmethod
    def from_first(cls, port: int) -> "SinglePorts":
        return cls(client=port, metrics=port + 1)

    def all(self) -> list[Port]:
        return [
            Port(self.client, "the client listener"),
            Port(self.metrics, "the metrics listener"),
        ]


async def demo_room(client: JsonClient, url: str, admin: Account) -> str:
    """The demo's room: found by its alias, or created."""
    alias = quote(f"#{ROOM_ALIAS}:{SERVER_NAME}")
    status, body = await client.get_json(
        url + f"/_matrix/client/v3/directory/room/{alias}"
    )
    if status == 200:
        room_id: str = body["room_id"]
        return room_id
    status, body = await client.post_json(
        url + "/_matrix/client/v3/createRoom",
        {"name": "msc_extensions demo", "room_alias_name": ROOM_ALIAS},
        access_token=admin.access_token,
    )
    if status != 200:
        raise DemoError(f"Creating the demo room failed: {status} {body}")
    room_id = body["room_id"]
    return room_id


async def run_single(
    options: Options, client: JsonClient, launched: Launched
) -> list[Section]:
    """Starts the homeserver and prepares it; returns what to print."""
    ports = SinglePorts.from_first(options.port)
    check_free(ports.all(), "Pick other ports with --port N (the demo uses N and N+1).")
    if options.fresh:
        shutil.rmtree(options.mode_dir, ignore_errors=True)
    files = ServerFiles(options.mode_dir)
    written = files.write(
        ServerSetup(SERVER_NAME, client_port=ports.client, metrics_port=ports.metrics)
    )
    secret = files.shared_secret()
    url = f"http://127.0.0.1:{ports.client}"
    server = DemoServer("the homeserver", files, url, [url + "/health"])
    say(f"Starting Synapse with msc_extensions on {url} (log: {shown(files.log)})")
    server.launch()
    launched.add_server(server)
    await server.wait_until_ready(client)
    admin = await account(client, url, secret, "demo", admin=True)
    room_id = await demo_room(client, url, admin)

    batch_url = (
        f"{url}/_matrix/client/unstable/org.matrix.msc3192/rooms/{quote(room_id)}"
        "/batch_state/txn1"
    )
    return [
        Section(
            f"Synapse with msc_extensions is running on {url} (pid {server.pid}).",
            [f"Log: {shown(files.log)}"],
        ),
        configuration_section([("", files)], written),
        Section(
            "Users:",
            [
                f"Admin: {admin.user_id}, password {PASSWORD}",
                f"Access token: {admin.access_token}",
                f"Registration shared secret: {secret}",
            ],
            [
                Command(
                    "Add a user:",
                    [
                        venv_script("register_new_matrix_user"),
                        "-c",
                        shown(files.homeserver_yaml),
                        "-u",
                        "carol",
                        "-p",
                        "carol-password",
                        "--no-admin",
                        url,
                    ],
                )
            ],
        ),
        Section(
            "The module:",
            commands=[
                Command(
                    "Its unstable features (org.matrix.msc3192) among Synapse's:",
                    ["curl", "-s", url + "/_matrix/client/versions"],
                ),
                Command(
                    "What it runs (admin):",
                    [
                        "curl",
                        "-s",
                        *bearer(admin.access_token),
                        url + "/_synapse/admin/v1/msc_extensions/status",
                    ],
                ),
            ],
        ),
        Section(
            "MSC3192, batch state (docs/msc3192.md):",
            [f"A room to try it in: {room_id} (#{ROOM_ALIAS}:{SERVER_NAME})"],
            [
                Command(
                    "Two state events in one request; the answer lists their "
                    "event IDs:",
                    [
                        "curl",
                        "-s",
                        "-X",
                        "PUT",
                        *bearer(admin.access_token),
                        "-d",
                        json.dumps(BATCH),
                        batch_url,
                    ],
                )
            ],
        ),
        Section(
            "Metrics:", metrics_notes(ports.metrics), [metrics_command(ports.metrics)]
        ),
        Section(
            "Partial-state rooms (MSC3895, MSC3902) need a second server: "
            "scripts-dev/demo --federation."
        ),
    ]
