"""Runs a mode until Ctrl-C (or SIGTERM), or until a server exits by itself.

Ctrl-C reaches only the demo (the servers run in sessions of their own); the
reactor's shutdown stops every server with SIGTERM and waits for it, so each logs a
clean shutdown. Anything that fails before the demo is ready is said in one message,
after which whatever had started is stopped and the demo exits with 1.
"""

import sys
from collections.abc import Sequence

from twisted.internet import defer, reactor, task

from demo_lib.federation import run_federation
from demo_lib.options import Options, parse_options
from demo_lib.output import complain, render, say
from demo_lib.ports import DemoError
from demo_lib.servers import Launched, first_exit
from demo_lib.single import run_single
from tests.e2e.client import JsonClient

READY = "Press Ctrl-C to stop."


def _on_shutdown(launched: Launched) -> defer.Deferred[None] | None:
    if launched.stopping:
        return None
    names = " and ".join(server.name for server in launched.servers) or "the demo"
    say(f"\nStopping {names}")

    async def stop() -> None:
        await launched.stop_all()
        say("Stopped.")

    return defer.ensureDeferred(stop())


async def run(options: Options) -> None:
    # From here on the reactor runs and handles SIGINT and SIGTERM.
    await task.deferLater(reactor, 0)
    launched = Launched()
    # mypy, without a zope plugin, reads interface methods as taking no self.
    reactor.addSystemEventTrigger(
        "before",
        "shutdown",  # type: ignore[arg-type]
        _on_shutdown,
        launched,
    )
    client = JsonClient()
    try:
        mode = run_federation if options.federation else run_single
        sections = await mode(options, client, launched)
    except Exception as e:
        if launched.stopping:  # Ctrl-C during start-up: nothing to report
            return
        if not isinstance(e, DemoError):
            raise
        complain(str(e))
        await launched.stop_all()
        raise SystemExit(1) from None
    say(render(sections))
    say()
    say(READY)

    server = await first_exit(launched.servers)
    if launched.stopping:
        return
    complain(str(server.failure(f"{server.title} exited (code {server.exit_code()})")))
    await launched.stop_all()
    raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    task.react(lambda _reactor: defer.ensureDeferred(run(options)))
