#!/usr/bin/env python3
"""The demo's entry point, run by ``scripts-dev/demo`` with the project's venv; see
``scripts-dev/demo --help`` and ``demo_lib/`` next to this file."""

import sys
from pathlib import Path

# demo_lib is next to this file (already on sys.path); tests.e2e is at the root.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from demo_lib.main import main  # noqa: E402

if __name__ == "__main__":
    main()
