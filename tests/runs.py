"""Running a script in scripts/ or a benchmark in benchmarks/ as a user does (from the repository root, in a
process of its own), for the suites that run one real row of each (test_script_runs.py, test_benchmark_runs.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]


def run(folder: str, name: str, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    """FOLDER/NAME ARGS (a .sh with bash, else this Python); its output as text."""
    path = ROOT / folder / name
    command = ["bash", str(path)] if name.endswith(".sh") else [sys.executable, str(path)]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def needs(*names: str):
    missing = [n for n in names if not (SHARED / n).exists()]
    return pytest.mark.skipif(bool(missing), reason=f"needs ../shared/datasets/{', '.join(missing)} (absent here)")
