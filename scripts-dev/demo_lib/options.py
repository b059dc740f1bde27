"""The demo's command line."""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT / "demo-data"
SINGLE_PORT = 8008
FEDERATION_PORT = 8480


@dataclass(frozen=True)
class Options:
    federation: bool
    #: The first of the ports the mode uses (see ``single`` and ``federation``).
    port: int
    #: Where every mode keeps its servers (``single/``, ``federation/``).
    data: Path
    #: Delete the mode's servers first: configuration, databases, keys, logs.
    fresh: bool

    @property
    def mode_dir(self) -> Path:
        return self.data / ("federation" if self.federation else "single")


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts-dev/demo",
        description="Homeservers with msc_extensions on loopback, ready to try. "
        "Configuration you edit is kept across restarts.",
    )
    parser.add_argument(
        "--federation",
        action="store_true",
        help="two homeservers federating over TLS, with a room that B joined with "
        "partial state, an invite for B's user to reject through A, and a switch "
        "that makes A unreachable from B",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"the first port to use (default {SINGLE_PORT}, or {FEDERATION_PORT} "
        "with --federation); the demo uses a few consecutive ones, and says which",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="the directory for configuration, databases and logs (default: "
        "demo-data/ in the repository)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start from scratch: delete this mode's configuration, databases and "
        "logs first",
    )
    args = parser.parse_args(argv)
    default_port = FEDERATION_PORT if args.federation else SINGLE_PORT
    port: int = default_port if args.port is None else args.port
    if not 1024 <= port <= 65000:
        parser.error(f"--port {port}: pick a port between 1024 and 65000")
    return Options(
        federation=args.federation,
        port=port,
        data=args.data.resolve(),
        fresh=args.fresh,
    )
