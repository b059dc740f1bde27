"""``python -m benchmarks [NAME ...] [--rounds N] [--postgres] [--local-only]``."""

import argparse
import sys
from collections.abc import Mapping, Sequence

from twisted.internet import defer, task

from benchmarks import Benchmark, BenchOptions, discover, format_table


def parse_args(
    argv: Sequence[str], benchmarks: Mapping[str, Benchmark]
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Side-by-side timings on real homeservers; prints ratios.",
        epilog="benchmarks: "
        + "; ".join(f"{b.name} ({b.description})" for b in benchmarks.values()),
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds per measurement; median shown"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="run on a throwaway PostgreSQL cluster rather than SQLite",
    )
    parser.add_argument(
        "--local-only",
        action="store_true",
        help="skip the rows that need more than one homeserver",
    )
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(benchmarks)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


async def run(argv: Sequence[str]) -> None:
    benchmarks = discover()
    args = parse_args(argv, benchmarks)
    selected = [benchmarks[name] for name in args.names or benchmarks]
    options = BenchOptions(
        rounds=args.rounds, postgres=args.postgres, local_only=args.local_only
    )
    for benchmark in selected:
        rows = await benchmark.run(options)
        print(format_table(benchmark.name, options, rows), flush=True)


def main() -> None:
    task.react(lambda _reactor: defer.ensureDeferred(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
