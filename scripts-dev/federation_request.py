#!/usr/bin/env python3
"""A federation request from one demo homeserver to another, signed as the first.

    federation_request.py FROM TO PATH [--method METHOD] [--json BODY]

FROM and TO are server directories of ``scripts-dev/demo --federation``
(``demo-data/federation/a`` and ``.../b``). The request goes to TO's TLS federation
listener with an ``Authorization: X-Matrix`` header signed with FROM's signing key,
as FROM's server name, exactly as FROM's Synapse would sign it; TO checks the
signature against the key FROM publishes, so FROM must be running. PATH is the path
with its query string, as sent. Prints the HTTP status, then the body.
"""

import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402
from canonicaljson import encode_canonical_json  # noqa: E402
from signedjson.key import read_signing_keys  # noqa: E402
from signedjson.types import SigningKey  # noqa: E402

from tests.e2e.federation import x_matrix_authorization  # noqa: E402

#: The files a demo server's settings are in, in the order Synapse reads them.
CONFIG_FILES = ("homeserver.yaml", "msc_extensions.yaml", "listeners.yaml")


def server_config(directory: Path) -> dict[str, Any]:
    """A demo server's settings, merged as Synapse merges its ``-c`` files."""
    config: dict[str, Any] = {}
    for name in CONFIG_FILES:
        path = directory / name
        if path.exists():
            config.update(yaml.safe_load(path.read_text()) or {})
    if "server_name" not in config:
        raise SystemExit(f"{directory} holds no demo homeserver's configuration")
    return config


def signing_key(config: dict[str, Any]) -> SigningKey:
    with open(config["signing_key_path"]) as f:
        key: SigningKey = read_signing_keys(f)[0]
    return key


def federation_url(config: dict[str, Any]) -> str:
    for listener in config.get("listeners", []):
        if listener.get("tls"):
            return f"https://127.0.0.1:{listener['port']}"
    raise SystemExit(f"{config['server_name']} has no TLS federation listener")


def send(
    origin: dict[str, Any],
    destination: dict[str, Any],
    method: str,
    path: str,
    content: Any,
) -> tuple[int, bytes]:
    authorization = x_matrix_authorization(
        origin=origin["server_name"],
        destination=destination["server_name"],
        signing_key=signing_key(origin),
        method=method,
        uri=path,
        content=content,
    )
    request = urllib.request.Request(
        federation_url(destination) + path,
        method=method,
        data=None if content is None else encode_canonical_json(content),
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    )
    # The demo's servers present self-signed certificates.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main() -> int:
    parser = argparse.ArgumentParser(
        description="A federation request signed as one demo homeserver."
    )
    parser.add_argument("origin", type=Path, help="the signing server's directory")
    parser.add_argument("destination", type=Path, help="the receiving server's")
    parser.add_argument("path", help="the path and query string, as sent")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--json", help="a JSON request body")
    args = parser.parse_args()
    content = None if args.json is None else json.loads(args.json)
    try:
        status, body = send(
            server_config(args.origin),
            server_config(args.destination),
            args.method,
            args.path,
            content,
        )
    except urllib.error.URLError as e:
        print(f"No answer: {e.reason}", file=sys.stderr)
        return 1
    print(status)
    try:
        print(json.dumps(json.loads(body), indent=2))
    except ValueError:
        print(body.decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
