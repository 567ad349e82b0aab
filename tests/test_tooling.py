"""The linters the project holds itself to, run with the tests so CI runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    proc = _run("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_nothing():
    # the checkout's own .mypy_cache (git-ignored): incremental, so a rerun takes seconds, not a minute
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
