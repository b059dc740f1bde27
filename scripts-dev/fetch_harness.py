#!/usr/bin/env python3
"""Fetch Synapse's test harness (the ``tests`` package of its sdist) for the Synapse
installed in the running interpreter, into ``.cache/synapse-harness/<version>/tests``.

The harness is not in the wheel, and ``pip download`` of the sdist tries to build its
metadata (which needs Rust crates), so ``unearth`` downloads the archive without
building it. Nothing of Synapse's is committed: the cache is git-ignored.
Prints the harness directory (the one that contains ``tests/``).
"""

import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def harness_root(version: str) -> Path:
    return REPO_ROOT / ".cache" / "synapse-harness" / version


def fetch(version: str) -> Path:
    root = harness_root(version)
    if (root / "tests" / "unittest.py").is_file():
        return root
    with tempfile.TemporaryDirectory() as download_dir:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "unearth",
                "--no-binary",
                "--download",
                download_dir,
                f"matrix-synapse=={version}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (archive,) = Path(download_dir).glob("*.tar.gz")
        staging = Path(
            tempfile.mkdtemp(dir=root.parent if root.parent.exists() else None)
        )
        try:
            with tarfile.open(archive) as tar:
                members = [
                    m for m in tar.getmembers() if m.name.split("/")[1:2] == ["tests"]
                ]
                tar.extractall(staging, members=members, filter="data")
            (top,) = staging.iterdir()
            root.mkdir(parents=True, exist_ok=True)
            # Move into place last, so an interrupted fetch leaves no half harness.
            (top / "tests").rename(root / "tests")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return root


def main() -> None:
    version = importlib.metadata.version("matrix-synapse")
    (REPO_ROOT / ".cache" / "synapse-harness").mkdir(parents=True, exist_ok=True)
    print(fetch(version))


if __name__ == "__main__":
    main()
