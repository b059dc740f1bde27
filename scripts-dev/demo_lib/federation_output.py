"""What ``scripts-dev/demo --federation`` prints: one section per feature it shows,
each pointing at its documentation, each command complete."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from demo_lib.files import configuration_section
from demo_lib.metrics import metrics_command, metrics_notes
from demo_lib.options import REPO_ROOT
from demo_lib.output import Command, Section, bearer, python, shown, venv_script
from demo_lib.partial_room import ADMIN_ROOMS, PartialRoom
from demo_lib.servers import DemoServer
from demo_lib.switch import Switch
from demo_lib.users import PASSWORD, Account

FEDERATION_REQUEST = REPO_ROOT / "scripts-dev" / "federation_request.py"
FILL_PDU = REPO_ROOT / "scripts-dev" / "fill_pdu.py"
FEDERATION = "/_matrix/federation/v1"
MSC4046_CLIENT = "/_matrix/client/unstable/org.matrix.msc4046"
CLIENT = "/_matrix/client/v3"
PARTIAL_STATE_DOCS = "docs/partial-state.md"
#: The content of B's user's leave: the invite rejection.
LEAVE = {"membership": "leave"}


@dataclass(frozen=True)
class Running:
    a: DemoServer
    b: DemoServer
    a_name: str
    b_name: str
    a_secret: str
    b_secret: str
    alice: Account
    bob: Account
    room: PartialRoom
    #: A room on A to which ``alice`` invited ``bob``; B has never been in it.
    invite_room_id: str
    switch: Switch
    b_metrics_port: int
    #: The configuration files this start wrote (none on a restart).
    written: Sequence[Path]


def _signed(
    origin: DemoServer, destination: DemoServer, what: str, path: str
) -> Command:
    """``GET path`` on ``destination``'s federation listener, signed with
    ``origin``'s key."""
    return Command(
        what,
        [
            python(),
            shown(FEDERATION_REQUEST),
            shown(origin.files.directory),
            shown(destination.files.directory),
            path,
        ],
    )


def _signed_as_a(running: Running, what: str, path: str) -> Command:
    """``GET path`` on B's federation listener, signed with A's key."""
    return _signed(running.a, running.b, what, path)


def _add_user(server: DemoServer, name: str) -> Command:
    return Command(
        f"Add a user on {server.name}:",
        [
            venv_script("register_new_matrix_user"),
            "-c",
            shown(server.files.homeserver_yaml),
            "-u",
            name,
            "-p",
            f"{name}-password",
            "--no-admin",
            server.client_url,
        ],
    )


def _servers(running: Running) -> Section:
    return Section(
        "Homeservers A and B with msc_extensions federate on loopback over TLS:",
        [
            f"A {running.a_name}: clients on {running.a.client_url} (pid "
            f"{running.a.pid}); its federation traffic passes a fault proxy",
            f"B {running.b_name}: clients on {running.b.client_url} (pid "
            f"{running.b.pid})",
            f"Logs: {shown(running.a.files.log)}, {shown(running.b.files.log)}",
        ],
    )


def _users(running: Running) -> Section:
    return Section(
        f"Users (password {PASSWORD}):",
        [
            f"On A: {running.alice.user_id} (admin), access token "
            f"{running.alice.access_token}",
            f"On B: {running.bob.user_id} (admin), access token "
            f"{running.bob.access_token}",
            f"Registration shared secrets: A {running.a_secret}, B {running.b_secret}",
        ],
        [_add_user(running.a, "carol"), _add_user(running.b, "dave")],
    )


def _room(running: Running) -> Section:
    return Section(
        f"The room {running.room.room_id}, on A:",
        [
            "B joined it with partial state (A left the members out of the join), "
            "and B's resync of it has stalled: A is unreachable from B now.",
        ],
    )


def _msc3895(running: Running) -> Section:
    room, join = quote(running.room.room_id), quote(running.room.join_event_id)
    return Section(
        "MSC3895: B's answers about the room over federation, to requests signed as "
        f"A ({PARTIAL_STATE_DOCS}, MSC3895):",
        commands=[
            _signed_as_a(
                running,
                "B's own join, an event B sent to A: answered, 200:",
                f"{FEDERATION}/event/{join}",
            ),
            _signed_as_a(
                running,
                "Its auth chain: answered, 200:",
                f"{FEDERATION}/event_auth/{room}/{join}",
            ),
            _signed_as_a(
                running,
                "The room's state: B cannot give it while partial, 403 with the "
                "MSC3895 error code:",
                f"{FEDERATION}/state_ids/{room}?event_id={join}",
            ),
            _signed_as_a(
                running,
                "The room's summary: answered from what B holds (a public room), 200:",
                f"{FEDERATION}/hierarchy/{room}",
            ),
        ],
    )


def _msc3902(running: Running) -> Section:
    return Section(
        f"MSC3902: the stalled resync ({PARTIAL_STATE_DOCS}, MSC3902):",
        commands=[
            Command(
                "B's partial-state rooms, with their resync attempts and last error "
                "(B's admin API):",
                [
                    "curl",
                    "-s",
                    *bearer(running.bob.access_token),
                    running.b.client_url + ADMIN_ROOMS,
                ],
            ),
            Command(
                "Bring A back. Within two resync_interval (msc3902 in B's "
                "msc_extensions.yaml) the loop finds A, the room reaches full state "
                "and leaves the list above:",
                ["curl", "-s", "-X", "POST", running.switch.url("/a/reachable")],
            ),
        ],
    )


def _msc4046(running: Running) -> Section:
    bob, room = running.bob, quote(running.invite_room_id)
    through_a = f"server_name={quote(running.a_name)}"
    make_pdu = [
        "curl",
        "-s",
        *bearer(bob.access_token),
        f"{running.b.client_url}{MSC4046_CLIENT}/room/{room}/make_pdu/m.room.member"
        f"?membership=leave&{through_a}",
    ]
    send_pdu = [
        "curl",
        "-s",
        "-X",
        "PUT",
        *bearer(bob.access_token),
        "--data-binary",
        "@-",
        f"{running.b.client_url}{MSC4046_CLIENT}/room/{room}/send_pdu/reject-invite"
        f"?{through_a}",
    ]
    return Section(
        f"MSC4046: {bob.user_id} rejects an invite through A, as B has never been in "
        "the room (docs/msc4046.md, through a resident server). A must be reachable "
        "from B (the switch above):",
        [
            f"{running.alice.user_id} invited {bob.user_id} to {running.invite_room_id}, "
            "a private room on A.",
        ],
        [
            Command(
                "A template for the leave, which B asks A for (the federation "
                "make_pdu): the room_version and the PDU without content, 200:",
                make_pdu,
                pipe=[[python(), "-m", "json.tool"]],
            ),
            Command(
                "Fill in the content and send it through A: B adds the hashes and its "
                "signature, A accepts the leave and B stores it, so bob's /sync no "
                "longer lists the invite; 200 {}:",
                make_pdu,
                pipe=[
                    [python(), shown(FILL_PDU), json.dumps(LEAVE)],
                    send_pdu,
                ],
            ),
            Command(
                "On A, bob's membership is that leave, with the event ID both servers "
                "hold:",
                [
                    "curl",
                    "-s",
                    *bearer(running.alice.access_token),
                    f"{running.a.client_url}{CLIENT}/rooms/{room}/state/m.room.member/"
                    f"{quote(bob.user_id)}?format=event",
                ],
            ),
        ],
    )


def _msc2314(running: Running) -> Section:
    room = quote(running.room.room_id)
    return Section(
        f"MSC2314: A's current state of the room {running.room.room_id}, without an "
        "event ID, to requests signed as B, which has a member in it "
        "(docs/msc2314.md, serving):",
        commands=[
            _signed(
                running.b,
                running.a,
                "The state events and their auth chain, with the room_version, 200:",
                f"{FEDERATION}/state/{room}",
            ),
            _signed(
                running.b,
                running.a,
                "Their event IDs only, 200:",
                f"{FEDERATION}/state_ids/{room}",
            ),
        ],
    )


def _cut_off_again(running: Running) -> Section:
    return Section(
        "The switch, again:",
        commands=[
            Command(
                "Make A unreachable from B again: B's requests to A go unanswered "
                "(MSC4046 through A among them) until A is brought back:",
                ["curl", "-s", "-X", "POST", running.switch.url("/a/unreachable")],
            ),
        ],
    )


def _metrics(running: Running) -> Section:
    return Section(
        "Metrics on B:",
        metrics_notes(running.b_metrics_port),
        [metrics_command(running.b_metrics_port, " on B")],
    )


def sections(running: Running) -> list[Section]:
    return [
        _servers(running),
        configuration_section(
            [("A: ", running.a.files), ("B: ", running.b.files)], running.written
        ),
        _users(running),
        _room(running),
        _msc3895(running),
        _msc3902(running),
        _msc4046(running),
        _msc2314(running),
        _cut_off_again(running),
        _metrics(running),
    ]
