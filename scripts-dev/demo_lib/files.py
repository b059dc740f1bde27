"""One demo server's directory, and which of its files the demo may write.

Synapse reads three files, later ones replacing earlier top-level keys:

- ``homeserver.yaml``: Synapse's settings, the shared secret included. Written once,
  then the admin's: never rewritten.
- ``msc_extensions.yaml``: the ``modules:`` section, the module's configuration.
  Written once, then the admin's.
- ``listeners.yaml``: the ports (and, for federating servers, the server name, which
  names the port), from the demo's ``--port``. Rewritten on every start.

Next to them: the signing key, TLS certificate, log configuration and media store
(each made when missing), the SQLite database and ``homeserver.log``.
"""

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from demo_lib.output import Section, shown
from demo_lib.ports import DemoError
from tests.e2e.config import (
    LOOPBACK,
    homeserver_config,
    module_entry,
    write_support_files,
)

HOMESERVER_HEADER = """\
# Synapse's settings for this demo server. scripts-dev/demo wrote this file once and
# keeps it: edit it, then restart the demo to apply. The module's settings are in
# msc_extensions.yaml; the ports are in listeners.yaml, which the demo rewrites on
# every start. `scripts-dev/demo --fresh` starts from scratch.
"""

MODULE_HEADER = """\
# msc_extensions' settings for this demo server; every one is in
# docs/configuration.md. Written once and kept: edit, then restart the demo.
# For example, at most 20 events in a batch:
#   config:
#     msc3192:
#       max_events: 20
"""

LISTENERS_HEADER = """\
# Rewritten by scripts-dev/demo on every start, from its --port: do not edit.
"""

#: Top-level keys that go into listeners.yaml rather than homeserver.yaml.
_PORT_KEYS = ("listeners", "public_baseurl")


def metrics_listener(port: int) -> dict[str, Any]:
    """Synapse's Prometheus listener, at ``/_synapse/metrics``."""
    return {"type": "metrics", "port": port, "bind_addresses": [LOOPBACK]}


@dataclass(frozen=True)
class ServerSetup:
    """What the demo wants of one server."""

    server_name: str
    client_port: int
    metrics_port: int
    #: The TLS federation listener, if the server federates.
    federation_port: int | None = None
    #: The module's ``config:`` when msc_extensions.yaml is first written.
    module_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name_follows_ports(self) -> bool:
        """A federating server's name holds its port, so it moves with them."""
        return self.federation_port is not None


def _dump(header: str, content: Mapping[str, Any]) -> str:
    return header + yaml.safe_dump(dict(content), sort_keys=False)


class ServerFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.homeserver_yaml = directory / "homeserver.yaml"
        self.module_yaml = directory / "msc_extensions.yaml"
        self.listeners_yaml = directory / "listeners.yaml"
        self.log = directory / "homeserver.log"
        self.database = directory / "homeserver.db"

    @property
    def config_paths(self) -> list[Path]:
        """In the order Synapse must read them."""
        return [self.homeserver_yaml, self.module_yaml, self.listeners_yaml]

    def previous_server_name(self) -> str | None:
        """The name this server's database belongs to, when the name follows the
        ports (it is then in listeners.yaml); None for a new server."""
        if not self.database.exists():
            return None
        name = self._read(self.listeners_yaml).get("server_name")
        return name if isinstance(name, str) else None

    def write(self, setup: ServerSetup) -> list[Path]:
        """Writes what is missing, and listeners.yaml; returns the files the admin
        edits that were written now (none on a restart)."""
        config = homeserver_config(
            self.directory,
            server_name=setup.server_name,
            client_port=setup.client_port,
            federation_port=setup.federation_port,
            registration_shared_secret=secrets.token_hex(16),
            modules=[module_entry(setup.module_config)],
            extra_listeners=[metrics_listener(setup.metrics_port)],
            overrides={"enable_metrics": True},
        )
        port_keys = {key: config.pop(key) for key in _PORT_KEYS}
        if setup.name_follows_ports:
            port_keys["server_name"] = config.pop("server_name")
        modules = {"modules": config.pop("modules")}

        write_support_files(self.directory, config)
        written = []
        for path, header, content in (
            (self.homeserver_yaml, HOMESERVER_HEADER, config),
            (self.module_yaml, MODULE_HEADER, modules),
        ):
            if not path.exists():
                path.write_text(_dump(header, content))
                written.append(path)
        self.listeners_yaml.write_text(_dump(LISTENERS_HEADER, port_keys))
        return written

    def shared_secret(self) -> str:
        """The ``registration_shared_secret`` in homeserver.yaml."""
        secret = self._read(self.homeserver_yaml).get("registration_shared_secret")
        if not isinstance(secret, str) or not secret:
            raise DemoError(
                f"{self.homeserver_yaml} has no registration_shared_secret; the demo "
                "registers its users with it. Put one back (any string), or start "
                "from scratch with --fresh."
            )
        return secret

    def _read(self, path: Path) -> dict[str, Any]:
        if not path.exists():
            return {}
        try:
            content = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise DemoError(f"{path} is not valid YAML:\n{e}") from e
        if not isinstance(content, dict):
            raise DemoError(f"{path} is not a YAML mapping of settings")
        return content


def configuration_section(
    servers: Sequence[tuple[str, ServerFiles]], written: Sequence[Path]
) -> Section:
    """Which files to edit; ``written`` are those made by this start."""
    title = (
        "Configuration, written now and kept from now on:"
        if written
        else "Configuration, kept from the last run:"
    )
    notes = []
    for label, files in servers:
        notes += [
            f"{label}{shown(files.homeserver_yaml)}: Synapse's settings",
            f"{label}{shown(files.module_yaml)}: the module's (docs/configuration.md)",
        ]
    notes.append(
        "Edit them, then restart the demo to apply; add --fresh to start from scratch."
    )
    return Section(title, notes)
