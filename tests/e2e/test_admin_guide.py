"""``docs/admin-guide.md`` as an admin follows it: every block marked
``<!-- test: NAME -->`` is run, as written, and its answer checked by the check
called NAME (see ``tests/unit/doc_blocks.py``).

The guide's commands use shell variables for what differs between deployments
(its block ``variables``); the tests set the same variables to their own
homeserver, token, room, log and virtualenv, and run each block with ``bash``.

- The install commands run in a copy of the checkout, into a fresh virtualenv
  made to look like Synapse's (installed from the checkout, uninstalled, then
  installed from the wheel built there): a ``.pth`` file puts this interpreter's
  site-packages (Synapse and its dependencies) after the virtualenv's own, so
  ``pip install --no-deps`` installs only the module, as it would beside Synapse,
  and the import check finds the installed copy, not the checkout.
- The ``curl`` commands run against one real homeserver, started with the
  guide's own configuration example, with a metrics listener.
- The SQL that removes the module's table runs on that homeserver's SQLite
  database once it has stopped.
"""

import json
import os
import shutil
import sqlite3
import sys
import sysconfig
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import synapse
import yaml
from twisted.internet import utils
from twisted.trial.unittest import SkipTest

from msc_extensions.version import __version__
from tests.e2e.config import LOOPBACK, free_port
from tests.e2e.homeserver import E2ETestCase, Homeserver, start_homeserver
from tests.e2e.rooms import create_room
from tests.unit.doc_blocks import (
    ADMIN_GUIDE,
    REPO_ROOT,
    Block,
    fenced_blocks,
    tested_blocks,
)

MODULE = "msc_extensions.MscExtensions"
#: What a checkout's root holds that installing the package reads.
CHECKOUT_FILES = ("msc_extensions", "setup.cfg", "pyproject.toml", "README.md")
#: The variables the guide's commands use, which its ``variables`` block sets.
VARIABLES = (
    "SYNAPSE_VENV",
    "SYNAPSE_LOG",
    "HOMESERVER",
    "METRICS",
    "ADMIN_TOKEN",
    "ROOM_ID",
)
INSTALL_BLOCKS = (
    "install-checkout",
    "check-install",
    "build-wheel",
    "install-wheel",
    "uninstall",
)
SERVER_BLOCKS = (
    "log-lines",
    "status",
    "versions",
    "partial-state-rooms",
    "resync",
    "abort",
    "recover",
    "recover-status",
    "metrics",
)
DATABASE_BLOCKS = ("drop-tables",)
FEATURES = {"msc3192", "msc4046", "msc2314", "msc3895", "msc3902"}

#: A check of one block's answer: (exit code, stdout and stderr) -> None.
Check = Callable[[int, str], Awaitable[None] | None]


async def run_block(
    block: Block, env: Mapping[str, str], cwd: Path, timeout_s: int = 120
) -> tuple[int, str]:
    """The block in ``bash -eu``, in ``cwd``: exit code, stdout and stderr."""
    out, err, code = await utils.getProcessOutputAndValue(
        "timeout",
        [str(timeout_s), "bash", "-eu", "-o", "pipefail", "-c", block.text],
        env={**_environment(), **env},
        path=str(cwd),
    )
    return code, (out + err).decode(errors="replace")


def _environment() -> dict[str, str]:
    """This process's environment, less what would put the repository's code in
    front of what the commands installed."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def guide_module_config() -> Any:
    """The guide's example with a setting for every feature."""
    for block in fenced_blocks(ADMIN_GUIDE):
        if block.language != "yaml":
            continue
        (entry,) = yaml.safe_load(block.text)["modules"]
        if set(entry.get("config") or {}) == FEATURES:
            return entry["config"]
    raise AssertionError("the guide has no example that sets every feature")


class AdminGuideTests(E2ETestCase):
    timeout = 300

    def setUp(self) -> None:
        super().setUp()
        if shutil.which("bash") is None or shutil.which("curl") is None:
            raise SkipTest("the guide's commands need bash and curl")
        self.blocks = tested_blocks()
        self.work = Path(tempfile.mkdtemp(prefix="admin-guide-"))
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    async def run_checked(
        self, name: str, env: Mapping[str, str], cwd: Path, check: Check
    ) -> None:
        """Runs every block called ``name`` and checks each answer."""
        self.assertIn(name, self.blocks, f"the guide has no block {name!r}")
        for block in self.blocks[name]:
            code, output = await run_block(block, env, cwd)
            try:
                result = check(code, output)
                if result is not None:
                    await result
            except Exception as e:
                raise AssertionError(
                    f"{block.where} ({name}):\n{block.text}answered ({code}):\n{output}"
                ) from e

    def test_every_tested_block_has_a_check(self) -> None:
        self.assertEqual(
            set(self.blocks),
            {"variables", *INSTALL_BLOCKS, *SERVER_BLOCKS, *DATABASE_BLOCKS},
        )

    async def test_the_variables_block_sets_what_the_commands_use(self) -> None:
        (block,) = self.blocks["variables"]
        printed = "; ".join(f'echo "{name}=${name}"' for name in VARIABLES)
        code, output = await run_block(
            Block(block.path, block.line, "sh", block.text + printed + "\n", None),
            {},
            self.work,
        )
        self.assertEqual(code, 0, output)
        shown = dict(line.split("=", 1) for line in output.splitlines())
        self.assertEqual(set(shown), set(VARIABLES))
        self.assertTrue(all(shown.values()), shown)
        # Every other command uses only these variables.
        used = {
            word
            for blocks in self.blocks.values()
            for block in blocks
            for word in VARIABLES
            if f"${word}" in block.text
        }
        self.assertEqual(used, set(VARIABLES))

    async def test_install_commands_in_fresh_virtualenvs(self) -> None:
        checkout = self.work / "checkout"
        checkout.mkdir()
        for name in CHECKOUT_FILES:
            source = REPO_ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source,
                    checkout / name,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
            else:
                shutil.copy(source, checkout / name)
        elsewhere = self.work / "elsewhere"
        elsewhere.mkdir()

        venv = await self.synapse_like_venv("venv")
        env = {"SYNAPSE_VENV": str(venv)}

        def installed(code: int, output: str) -> None:
            self.assertEqual(code, 0)
            self.assertRegex(output, r"Successfully installed msc[-_]extensions-")

        await self.run_checked("install-checkout", env, checkout, installed)
        await self.assert_imported_from(venv, elsewhere)

        def version(code: int, output: str) -> None:
            self.assertEqual((code, output.strip()), (0, __version__))

        await self.run_checked("check-install", env, elsewhere, version)

        def uninstalled(code: int, output: str) -> None:
            self.assertEqual(code, 0)
            self.assertRegex(output, r"Successfully uninstalled msc[-_]extensions-")

        await self.run_checked("uninstall", env, elsewhere, uninstalled)
        (site_packages,) = venv.glob("lib/python*/site-packages")
        self.assertEqual(list(site_packages.glob("msc_extensions*")), [])

        # The wheel is built with any pip (here the virtualenv's), then installed
        # into the Synapse environment.
        path_env = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}

        def built(code: int, output: str) -> None:
            self.assertEqual(code, 0)
            wheels = [p.name for p in (checkout / "dist").glob("*.whl")]
            self.assertEqual(wheels, [f"msc_extensions-{__version__}-py3-none-any.whl"])

        await self.run_checked("build-wheel", path_env, checkout, built)
        await self.run_checked("install-wheel", env, checkout, installed)
        await self.assert_imported_from(venv, elsewhere)
        await self.run_checked("check-install", env, elsewhere, version)

    async def synapse_like_venv(self, name: str) -> Path:
        venv = self.work / name
        out, err, code = await utils.getProcessOutputAndValue(
            sys.executable, ["-m", "venv", str(venv)], env=dict(os.environ)
        )
        self.assertEqual(code, 0, (out + err).decode(errors="replace"))
        (site_packages,) = venv.glob("lib/python*/site-packages")
        # After the virtualenv's own directory: what pip installs there wins.
        (site_packages / "zz_synapse_environment.pth").write_text(
            sysconfig.get_paths()["purelib"] + "\n"
        )
        return venv

    async def python_in(self, venv: Path, cwd: Path, code: str) -> tuple[int, str]:
        out, err, exit_code = await utils.getProcessOutputAndValue(
            str(venv / "bin" / "python"),
            ["-c", code],
            env=_environment(),
            path=str(cwd),
        )
        return exit_code, (out + err).decode(errors="replace")

    async def assert_imported_from(self, venv: Path, cwd: Path) -> None:
        code, output = await self.python_in(
            venv,
            cwd,
            "import msc_extensions; from msc_extensions import MscExtensions; "
            "MscExtensions.parse_config({}); print(msc_extensions.__file__)",
        )
        self.assertEqual(code, 0, output)
        self.assertTrue(
            Path(output.strip()).is_relative_to(venv), f"imported from {output}"
        )

    async def test_admin_api_commands_against_a_homeserver(self) -> None:
        metrics_port = free_port()
        hs = await start_homeserver(
            self,
            module_config=guide_module_config(),
            overrides={"enable_metrics": True},
            extra_listeners=[
                {"type": "metrics", "port": metrics_port, "bind_addresses": [LOOPBACK]}
            ],
        )
        admin = await hs.register_user(self.client, "guide_admin", admin=True)
        room_id = await create_room(self.client, hs, admin.access_token)
        env = {
            "HOMESERVER": hs.client_url,
            "ADMIN_TOKEN": admin.access_token,
            "ROOM_ID": room_id,
            "METRICS": f"http://{LOOPBACK}:{metrics_port}",
            "SYNAPSE_LOG": str(hs.directory / "homeserver.log"),
        }
        for name, check in self.server_checks(room_id).items():
            await self.run_checked(name, env, self.work, check)
        await self.removing_the_table(hs)

    def server_checks(self, room_id: str) -> dict[str, Check]:
        def answer(code: int, output: str) -> Any:
            self.assertEqual(code, 0)
            return json.loads(output)

        def log_lines(code: int, output: str) -> None:
            self.assertEqual(code, 0)
            self.assertIn(
                "msc_extensions loaded on the main process with features "
                "msc3192, msc4046, msc2314, msc3895, msc3902",
                output,
            )
            self.assertNotIn("needs Synapse", output)

        def status(code: int, output: str) -> None:
            body = answer(code, output)
            self.assertEqual(body["synapse_version"], synapse.__version__)
            self.assertEqual(body["module_version"], __version__)
            self.assertIsNone(body["worker_app"])
            features = body["features"]
            self.assertEqual(set(features), FEATURES)
            self.assertEqual(
                features["msc3895"], {"enabled": True, "errcode": "unstable"}
            )
            self.assertEqual(
                features["msc3902"],
                {
                    "enabled": True,
                    "resync_interval": 60_000,
                    "max_resync_interval": 3_600_000,
                },
            )
            self.assertEqual(
                features["msc3192"]["rate_limit"], {"per_second": 0.5, "burst_count": 5}
            )

        def versions(code: int, output: str) -> None:
            flags = answer(code, output)["unstable_features"]
            self.assertIs(flags.get("org.matrix.msc3192"), True)
            self.assertIs(flags.get("org.matrix.msc4046"), True)

        def partial_state_rooms(code: int, output: str) -> None:
            self.assertEqual(answer(code, output), {"rooms": [], "total": 0})

        def not_partial(code: int, output: str) -> None:
            body = answer(code, output)
            self.assertEqual(body["errcode"], "M_NOT_FOUND")
            self.assertEqual(
                body["error"], f"{room_id} is not a partial-state room here"
            )

        def recover(code: int, output: str) -> None:
            body = answer(code, output)
            self.assertIn(f"is in {room_id} with full state already", body["error"])

        def recover_status(code: int, output: str) -> None:
            body = answer(code, output)
            self.assertEqual(body["errcode"], "M_NOT_FOUND")
            self.assertIn("No recovery", body["error"])

        def metrics(code: int, output: str) -> None:
            self.assertEqual(code, 0)
            lines = output.splitlines()
            self.assertTrue(lines)
            self.assertTrue(
                all(line.startswith("synapse_msc_extensions_") for line in lines)
            )
            self.assertIn(
                "synapse_msc_extensions_partial_state_resync_attempts_total{", output
            )

        return {
            "log-lines": log_lines,
            "status": status,
            "versions": versions,
            "partial-state-rooms": partial_state_rooms,
            "resync": not_partial,
            "abort": not_partial,
            "recover": recover,
            "recover-status": recover_status,
            "metrics": metrics,
        }

    async def removing_the_table(self, hs: Homeserver) -> None:
        """The guide's SQL, with Synapse stopped, removes the module's table and
        nothing of Synapse's."""
        database = hs.directory / "homeserver.db"
        await hs.process.stop()

        def tables() -> set[str]:
            with sqlite3.connect(database) as connection:
                rows = connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
            return {name for (name,) in rows}

        before = tables()
        self.assertIn("msc_extensions_transactions", before)
        self.assertEqual(
            {t for t in before if t.startswith("msc_extensions")},
            {"msc_extensions_transactions"},
            "a module table the guide does not name",
        )
        (block,) = self.blocks["drop-tables"]
        with sqlite3.connect(database) as connection:
            connection.executescript(block.text)
        self.assertEqual(tables(), before - {"msc_extensions_transactions"})
