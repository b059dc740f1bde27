"""``scripts-dev/demo`` as a newcomer meets it: every command it prints, in both
modes, is run and its answer checked; the files an admin edits survive a restart;
a busy port is named before anything is written; a failed start says why; Ctrl-C
stops everything cleanly.

Each test runs the demo on free ports with a temporary ``--data`` directory, so
nothing touches the repository's ``demo-data/``.
"""

import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import yaml
from twisted.trial.unittest import SkipTest

from tests.e2e.config import LOOPBACK
from tests.e2e.demo_run import DemoRun, free_port_run, ports_free, run_shell
from tests.e2e.homeserver import E2ETestCase
from tests.e2e.process import pause

SINGLE_PORTS = 2
FEDERATION_PORTS = 8
READY_TIMEOUT_S = 120.0
RECOVERY_TIMEOUT_S = 60.0
UNSTABLE_ERRCODE = "ORG.MATRIX.MSC3895_UNABLE_DUE_TO_PARTIAL_STATE"
_METRIC_NAME = re.compile(r"^\s+(synapse_msc_extensions_\w+)$", re.MULTILINE)
_SUCCESSES = re.compile(
    r"^synapse_msc_extensions_partial_state_resync_successes_total\{[^}]*\} (\S+)$",
    re.MULTILINE,
)

#: A check of one printed command's answer: (exit code, output) -> None.
Check = Callable[[int, str], Awaitable[None]]


def _json(output: str) -> Any:
    return json.loads(output)


def _federation_answer(output: str) -> tuple[int, Any]:
    """``scripts-dev/federation_request.py`` prints the status, then the body."""
    status, _, body = output.partition("\n")
    return int(status), json.loads(body)


class DemoE2ETests(E2ETestCase):
    timeout = 300

    def setUp(self) -> None:
        super().setUp()
        if shutil.which("curl") is None:
            raise SkipTest("curl is not installed; the demo's commands use it")
        self.data = Path(tempfile.mkdtemp(prefix="demo-data-"))
        self.addCleanup(shutil.rmtree, self.data, ignore_errors=True)

    async def start(self, ports: int, *args: str, port: int | None = None) -> DemoRun:
        """A ready demo on ``ports`` free ports; retried from scratch on other ports
        when another process took one meanwhile."""
        for attempt in range(3):
            retry = ("--fresh",) if attempt else ()
            demo = DemoRun(self.data, port or free_port_run(ports), (*args, *retry))
            self.addCleanup(demo.kill)
            try:
                await demo.wait_until_ready(READY_TIMEOUT_S)
                return demo
            except AssertionError:
                said = demo.output()
                taken = "is in use" in said or "Address already in use" in said
                if port is not None or not taken or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def run_printed_commands(
        self, demo: DemoRun, checks: Mapping[str, Check]
    ) -> None:
        """Runs every command the demo printed, in order, each checked by the one
        check whose key (a regular expression) it matches; every check must be
        used."""
        commands = demo.commands()
        used = set()
        for command in commands:
            keys = [key for key in checks if re.search(key, command)]
            self.assertEqual(len(keys), 1, f"{command!r} matches the checks {keys}")
            code, output = await run_shell(command)
            try:
                await checks[keys[0]](code, output)
            except Exception as e:
                raise AssertionError(f"{command}\nanswered ({code}):\n{output}") from e
            used.add(keys[0])
        self.assertEqual(used, set(checks), "checks that no printed command used")

    async def stop_cleanly(
        self, demo: DemoRun, ports: int, logs: Sequence[Path]
    ) -> None:
        """Ctrl-C: the demo and its servers stop, with no traceback, and every port
        is free again."""
        sizes = [log.stat().st_size for log in logs]
        ready_output = len(demo.output())
        demo.press_ctrl_c()
        self.assertEqual(await demo.wait_for_exit(60), 0, demo.output())
        said = demo.output()[ready_output:]
        self.assertIn("Stopped.", said)
        self.assertNotIn("Traceback", said)
        for log, size in zip(logs, sizes, strict=True):
            with log.open(errors="replace") as f:
                f.seek(size)
                shutdown = f.read()
            self.assertIn("Shutting down", shutdown)
            for word in ("CRITICAL", "Traceback"):
                self.assertNotIn(word, shutdown, f"{log}:\n{shutdown}")
        self.assertTrue(ports_free(demo.port, ports))

    async def assert_registers(self, code: int, output: str) -> None:
        self.assertEqual(code, 0)
        self.assertIn("Success!", output)

    def metrics_check(self, demo: DemoRun, *, resyncs: int = 0) -> Check:
        """Every metric name the demo printed is served; at least ``resyncs``
        resyncs succeeded."""

        async def check(code: int, output: str) -> None:
            names = _METRIC_NAME.findall(demo.output())
            self.assertGreaterEqual(len(names), 5)
            for name in names:
                self.assertIn(name, output)
            successes = _SUCCESSES.search(output)
            assert successes is not None
            self.assertGreaterEqual(float(successes.group(1)), resyncs)

        return check

    async def test_one_homeserver_every_printed_command_answers(self) -> None:
        demo = await self.start(SINGLE_PORTS)

        async def versions(code: int, output: str) -> None:
            self.assertTrue(_json(output)["unstable_features"]["org.matrix.msc3192"])

        async def status(code: int, output: str) -> None:
            features = _json(output)["features"]
            self.assertLessEqual({"msc3192", "msc3895", "msc3902"}, set(features))

        async def batch(code: int, output: str) -> None:
            event_ids = _json(output)
            self.assertEqual(len(event_ids), 2)
            self.assertTrue(all(e.startswith("$") for e in event_ids))

        await self.run_printed_commands(
            demo,
            {
                "register_new_matrix_user": self.assert_registers,
                "/_matrix/client/versions": versions,
                "/msc_extensions/status": status,
                "/batch_state/": batch,
                "/_synapse/metrics": self.metrics_check(demo),
            },
        )
        await self.stop_cleanly(
            demo, SINGLE_PORTS, [self.data / "single" / "homeserver.log"]
        )

    async def test_a_busy_port_is_named_before_anything_is_written(self) -> None:
        first = free_port_run(SINGLE_PORTS)
        with socket.socket() as holder:
            holder.bind((LOOPBACK, first + 1))
            holder.listen()
            demo = DemoRun(self.data / "new", first)
            self.addCleanup(demo.kill)
            self.assertEqual(await demo.wait_for_exit(30), 1, demo.output())
        said = demo.output()
        self.assertIn(f"Port {first + 1} (the metrics listener) is in use", said)
        self.assertIn(f"held by pid {os.getpid()}", said)
        self.assertIn("--port N", said)
        self.assertFalse((self.data / "new").exists())

    async def test_edits_are_kept_and_a_failed_start_says_why(self) -> None:
        single = self.data / "single"
        module_yaml, homeserver_yaml = (
            single / "msc_extensions.yaml",
            (single / "homeserver.yaml"),
        )
        log = single / "homeserver.log"
        demo = await self.start(SINGLE_PORTS)
        port = demo.port
        await self.stop_cleanly(demo, SINGLE_PORTS, [log])
        secret = yaml.safe_load(homeserver_yaml.read_text())[
            "registration_shared_secret"
        ]
        settings = homeserver_yaml.read_text()
        edited = module_yaml.read_text().replace(
            "config: {}", "config:\n    msc3192:\n      max_events: 1"
        )
        self.assertIn("max_events: 1", edited)
        module_yaml.write_text(edited)

        # A restart keeps both files and the secret; the edit is in effect: the
        # printed two-event batch is now one too many.
        demo = await self.start(SINGLE_PORTS, port=port)
        self.assertEqual(module_yaml.read_text(), edited)
        self.assertEqual(homeserver_yaml.read_text(), settings)
        self.assertIn("kept from the last run", demo.output())
        self.assertIn(f"Registration shared secret: {secret}", demo.output())
        (batch,) = [c for c in demo.commands() if "/batch_state/" in c]
        code, output = await run_shell(batch)
        self.assertEqual(_json(output)["errcode"], "M_INVALID_PARAM", output)
        await self.stop_cleanly(demo, SINGLE_PORTS, [log])

        # A value out of range: the start fails with Synapse's own explanation.
        module_yaml.write_text(edited.replace("max_events: 1", "max_events: 100"))
        demo = DemoRun(self.data, port)
        self.addCleanup(demo.kill)
        self.assertEqual(await demo.wait_for_exit(READY_TIMEOUT_S), 1)
        said = demo.output()
        self.assertIn("exited during start-up", said)
        self.assertIn(
            "Error in configuration at 'modules.<item 0>.config.msc3192.max_events'",
            said,
        )
        self.assertIn("must be at most 50, got 100", said)

        # --fresh: everything new.
        demo = await self.start(SINGLE_PORTS, "--fresh", port=port)
        self.assertIn("written now", demo.output())
        self.assertIn("config: {}", module_yaml.read_text())
        self.assertNotIn(secret, homeserver_yaml.read_text())
        await self.stop_cleanly(demo, SINGLE_PORTS, [log])

    async def test_two_homeservers_every_printed_command_answers(self) -> None:
        demo = await self.start(FEDERATION_PORTS, "--federation")
        said = demo.output()
        room = re.search(r"The room (!\S+), on A:", said)
        bob = re.search(r"On B: (@\S+) \(admin\)", said)
        assert room is not None and bob is not None, said
        invite = re.search(r"invited \S+ to (!\S+), a private room on A", said)
        alice = re.search(r"On A: \S+ \(admin\), access token (\S+)", said)
        bob_token = re.search(r"On B: \S+ \(admin\), access token (\S+)", said)
        a_url = re.search(r"clients on (http://\S+) \(pid", said)
        b_url = re.search(r"B \S+: clients on (http://\S+) \(pid", said)
        assert invite and alice and bob_token and a_url and b_url, said
        room_id, bob_id = room.group(1), bob.group(1)
        invite_room_id = invite.group(1)
        (list_rooms,) = [c for c in demo.commands() if "partial_state_rooms" in c]
        (own_event_command,) = [c for c in demo.commands() if "/event/" in c]
        bobs_join = unquote(own_event_command.rsplit("/event/", 1)[1])
        seen: dict[str, Any] = {}

        async def bobs_sync(since: str | None = None) -> Any:
            """bob's /sync on B, with the rooms he left (a new filter each time:
            /sync answers are cached per request)."""
            seen["syncs"] = seen.get("syncs", 0) + 1
            room_filter = {"include_leave": True, "timeline": {"limit": seen["syncs"]}}
            url = f"{b_url.group(1)}/_matrix/client/v3/sync?timeout=0&filter=" + quote(
                json.dumps({"room": room_filter})
            )
            status, body = await self.client.get_json(
                url + (f"&since={quote(since)}" if since else ""),
                access_token=bob_token.group(1),
            )
            self.assertEqual(status, 200, body)
            return body

        async def invite_room_version() -> str:
            status, create = await self.client.get_json(
                f"{a_url.group(1)}/_matrix/client/v3/rooms/{quote(invite_room_id)}"
                "/state/m.room.create/",
                access_token=alice.group(1),
            )
            self.assertEqual(status, 200, create)
            version: str = create.get("room_version", "1")
            return version

        async def own_event(code: int, output: str) -> None:
            status, body = _federation_answer(output)
            self.assertEqual(status, 200)
            self.assertEqual(body["pdus"][0]["sender"], bob_id)

        async def auth_chain(code: int, output: str) -> None:
            status, body = _federation_answer(output)
            self.assertEqual(status, 200)
            self.assertIn("m.room.create", {e["type"] for e in body["auth_chain"]})

        async def state(code: int, output: str) -> None:
            status, body = _federation_answer(output)
            self.assertEqual(status, 403)
            self.assertEqual(body["errcode"], UNSTABLE_ERRCODE)

        async def hierarchy(code: int, output: str) -> None:
            status, body = _federation_answer(output)
            self.assertEqual(status, 200)
            self.assertEqual(body["room"]["room_id"], room_id)

        async def partial_rooms(code: int, output: str) -> None:
            (listed,) = _json(output)["rooms"]
            self.assertEqual(listed["room_id"], room_id)

        async def a_back(code: int, output: str) -> None:
            self.assertEqual(_json(output), {"a_reachable_from_b": True})
            # The list shows the recovery: the room leaves it.
            deadline = time.monotonic() + RECOVERY_TIMEOUT_S
            while True:
                code, listed = await run_shell(list_rooms)
                if _json(listed)["total"] == 0:
                    return
                self.assertLess(time.monotonic(), deadline, listed)
                for _ in range(10):
                    await pause()

        async def a_gone(code: int, output: str) -> None:
            self.assertEqual(_json(output), {"a_reachable_from_b": False})

        async def leave_template(code: int, output: str) -> None:
            body = _json(output)
            self.assertEqual(body["room_version"], await invite_room_version())
            pdu = body["pdu"]
            self.assertEqual(
                (pdu["type"], pdu["room_id"], pdu["sender"], pdu["state_key"]),
                ("m.room.member", invite_room_id, bob_id, bob_id),
            )
            self.assertNotIn("content", pdu)
            # bob still has the invite, on B.
            sync = await bobs_sync()
            self.assertIn(invite_room_id, sync["rooms"]["invite"])
            seen["before_rejection"] = sync["next_batch"]

        async def rejection(code: int, output: str) -> None:
            self.assertEqual(_json(output), {})
            # On B the invite is gone and the leave is in the leave section.
            sync = await bobs_sync()
            self.assertNotIn(invite_room_id, sync.get("rooms", {}).get("invite", {}))
            since = await bobs_sync(seen["before_rejection"])
            (leave,) = since["rooms"]["leave"][invite_room_id]["timeline"]["events"]
            self.assertEqual(
                (leave["sender"], leave["content"]["membership"]), (bob_id, "leave")
            )
            seen["leave_event_id"] = leave["event_id"]

        async def leave_on_a(code: int, output: str) -> None:
            event = _json(output)
            self.assertEqual(
                (event["sender"], event["content"]["membership"]), (bob_id, "leave")
            )
            self.assertEqual(event["event_id"], seen["leave_event_id"])

        async def current_state(code: int, output: str) -> None:
            status, body = _federation_answer(output)
            self.assertEqual(status, 200)
            pdus = body["pdus"]
            (create,) = [p for p in pdus if p["type"] == "m.room.create"]
            self.assertEqual(
                body["room_version"], create["content"].get("room_version", "1")
            )
            members = {
                p["state_key"]: p["content"]["membership"]
                for p in pdus
                if p["type"] == "m.room.member"
            }
            self.assertEqual(members[bob_id], "join")
            self.assertEqual(len(members), 6)  # alice, four members, bob
            self.assertTrue(body["auth_chain"])
            seen["state"] = body

        async def current_state_ids(code: int, output: str) -> None:
            status, body = _federation_answer(output)
            self.assertEqual(status, 200)
            state = seen["state"]
            self.assertEqual(body["room_version"], state["room_version"])
            self.assertEqual(len(body["pdu_ids"]), len(state["pdus"]))
            self.assertIn(bobs_join, body["pdu_ids"])

        await self.run_printed_commands(
            demo,
            {
                "register_new_matrix_user": self.assert_registers,
                "/event/": own_event,
                "/event_auth/": auth_chain,
                r"/state_ids/\S+\?event_id=": state,
                "/hierarchy/": hierarchy,
                "partial_state_rooms": partial_rooms,
                "/a/reachable": a_back,
                "/a/unreachable": a_gone,
                "-m json.tool": leave_template,
                "/send_pdu/": rejection,
                "/state/m.room.member/": leave_on_a,
                "/v1/state/": current_state,
                r"/v1/state_ids/[^?\s]+$": current_state_ids,
                "/_synapse/metrics": self.metrics_check(demo, resyncs=1),
            },
        )
        federation = self.data / "federation"
        await self.stop_cleanly(
            demo,
            FEDERATION_PORTS,
            [federation / "a" / "homeserver.log", federation / "b" / "homeserver.log"],
        )
