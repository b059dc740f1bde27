"""Writes a throwaway ``homeserver.yaml`` and the files it names.

One place builds the configuration for every real homeserver this project starts:
the end-to-end fixture (:mod:`tests.e2e.homeserver`) and ``scripts-dev/demo``
(``scripts-dev/demo_lib/files.py``, which splits it into the files an admin edits
and the listeners the demo rewrites). It imports nothing else from the ``tests``
package: only the standard library, PyYAML and signedjson, which come with Synapse.
"""

import secrets
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from signedjson.key import generate_signing_key, write_signing_keys

MODULE = "msc_extensions.MscExtensions"
LOOPBACK = "127.0.0.1"

# Scripted scenarios act much faster than people; no test should meet a rate limit
# unless it sets one itself.
_GENEROUS = {"per_second": 1000, "burst_count": 1000}
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _GENEROUS,
    "rc_registration": _GENEROUS,
    "rc_login": {
        "address": _GENEROUS,
        "account": _GENEROUS,
        "failed_attempts": _GENEROUS,
    },
    "rc_joins": {"local": _GENEROUS, "remote": _GENEROUS},
    "rc_joins_per_room": _GENEROUS,
    "rc_invites": {
        "per_room": _GENEROUS,
        "per_user": _GENEROUS,
        "per_issuer": _GENEROUS,
    },
    "rc_3pid_validation": _GENEROUS,
    "rc_admin_redaction": _GENEROUS,
    "rc_key_requests": _GENEROUS,
    "rc_federation": {
        "window_size": 1000,
        "sleep_limit": 1000,
        "sleep_delay": 1,
        "reject_limit": 1000,
        "concurrent": 100,
    },
}

_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {"synapse.access": {"level": "INFO"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "disable_existing_loggers": False,
}


def free_ports(count: int) -> list[int]:
    """``count`` different loopback TCP ports that were free a moment ago: each is
    bound to port 0 and read back, all held open until every one is picked."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    (port,) = free_ports(1)
    return port


def module_entry(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``modules`` entry that loads msc_extensions with ``config``."""
    return {"module": MODULE, "config": dict(config or {})}


def listener(port: int, names: Sequence[str], *, tls: bool = False) -> dict[str, Any]:
    """An HTTP listener on loopback serving the named resources."""
    return {
        "port": port,
        "bind_addresses": [LOOPBACK],
        "type": "http",
        "tls": tls,
        "x_forwarded": False,
        "resources": [{"names": list(names), "compress": False}],
    }


def make_tls_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            f"/CN={LOOPBACK}",
            "-addext",
            f"subjectAltName=IP:{LOOPBACK}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return cert, key


def write_signing_key(path: Path) -> None:
    """An ed25519 signing key in Synapse's file format, as ``--generate-keys``
    writes it, without starting a Python process that imports Synapse."""
    key = generate_signing_key("a_" + secrets.token_hex(2))
    with path.open("w") as f:
        write_signing_keys(f, [key])


def homeserver_config(
    directory: Path,
    *,
    server_name: str,
    client_port: int,
    federation_port: int | None,
    registration_shared_secret: str,
    modules: Sequence[Mapping[str, Any]],
    database: Mapping[str, Any] | None = None,
    extra_listeners: Sequence[Mapping[str, Any]] = (),
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``homeserver.yaml``; ``overrides`` replace top-level keys."""
    listeners = [listener(client_port, ["client"])]
    config: dict[str, Any] = {
        "server_name": server_name,
        "public_baseurl": f"http://{LOOPBACK}:{client_port}/",
        "listeners": listeners,
        "database": dict(database)
        if database is not None
        else {
            "name": "sqlite3",
            "args": {"database": str(directory / "homeserver.db")},
        },
        "log_config": str(directory / "log_config.yaml"),
        "media_store_path": str(directory / "media_store"),
        "signing_key_path": str(directory / "signing.key"),
        "registration_shared_secret": registration_shared_secret,
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_verify_certificates": False,
        "ip_range_blacklist": [],
        "bcrypt_rounds": 4,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        "enable_metrics": False,
        **RATE_LIMITS,
        "modules": [dict(m) for m in modules],
    }
    if federation_port is not None:
        listeners.append(listener(federation_port, ["federation"], tls=True))
        config["tls_certificate_path"] = str(directory / "tls.crt")
        config["tls_private_key_path"] = str(directory / "tls.key")
    listeners.extend(dict(extra) for extra in extra_listeners)
    config.update(overrides or {})
    return config


def write_support_files(directory: Path, config: Mapping[str, Any]) -> None:
    """The files ``config`` names, each only when it is missing: the log config, the
    signing key, the media store and, if it has a TLS listener, a certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    Path(config["media_store_path"]).mkdir(exist_ok=True)
    log_config = Path(config["log_config"])
    if not log_config.exists():
        log_config.write_text(yaml.safe_dump(_LOG_CONFIG))
    signing_key = Path(config["signing_key_path"])
    if not signing_key.exists():
        write_signing_key(signing_key)
    if (
        "tls_certificate_path" in config
        and not Path(config["tls_certificate_path"]).exists()
    ):
        make_tls_certificate(directory)


def write_homeserver_config(directory: Path, config: Mapping[str, Any]) -> Path:
    """Writes ``config`` and the files it names (see :func:`write_support_files`)
    into ``directory``."""
    write_support_files(directory, config)
    config_path = directory / "homeserver.yaml"
    config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return config_path
