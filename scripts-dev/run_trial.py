#!/usr/bin/env python3
"""Run trial and record how many tests passed, failed and were skipped.

``scripts-dev/test`` sums these records over every suite it ran. Trial's own summary
line (``PASSED (skips=1, successes=40)``) is parsed here, in one place.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

RESULTS_DIR = Path(os.environ.get("MSC_EXTENSIONS_RESULTS_DIR", ".tox/results"))


def count(summary_line: str) -> dict[str, int]:
    fields = {
        name: int(number) for name, number in re.findall(r"(\w+)=(\d+)", summary_line)
    }
    return {
        "passed": fields.get("successes", 0),
        "failed": sum(
            fields.get(k, 0) for k in ("failures", "errors", "unexpectedSuccesses")
        ),
        "skipped": fields.get("skips", 0) + fields.get("expectedFailures", 0),
    }


def main() -> int:
    command = [sys.executable, "-m", "twisted.trial", *sys.argv[1:]]
    # Unbuffered, so a slow or stuck test shows in the log as it happens.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    summary = ""
    for line in process.stdout:
        sys.stdout.write(line)
        if re.match(r"^(PASSED|FAILED) \(", line):
            summary = line
    returncode = process.wait()
    counts = count(summary)
    if counts["failed"] == 0 and (returncode != 0 or counts["passed"] == 0):
        counts["failed"] = 1  # trial failed before it could count, or ran nothing
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = os.environ.get("MSC_EXTENSIONS_RESULTS_NAME", "trial")
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(counts))
    return returncode


if __name__ == "__main__":
    sys.exit(main())
