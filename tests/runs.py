"""Running a script in scripts/ or a benchmark in benchmarks/ as a user does (from the repository root, in a
process of its own), for the suites that run one real row of each (test_script_runs.py, test_benchmark_runs.py);
or, for one that does not measure its own process, as its `__main__` in the test's process (`in_process`): the same
code and arguments without the 4-5 s of CPU a new interpreter spends importing torch, lancedb and the models."""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
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


def in_process(folder: str, name: str, *args) -> subprocess.CompletedProcess:
    """FOLDER/NAME ARGS run as `__main__` here, from the repository root; what it printed, and its exit code."""
    path = ROOT / folder / name
    command, saved = [str(path), *map(str, args)], (sys.argv, list(sys.path), os.getcwd())
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = command
    try:
        os.chdir(ROOT)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]  # as tests/test_scripts.py's starter: a script's path stays its own
        os.chdir(saved[2])
    return subprocess.CompletedProcess(command, code, out.getvalue(), err.getvalue())


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def needs(*names: str):
    missing = [n for n in names if not (SHARED / n).exists()]
    return pytest.mark.skipif(bool(missing), reason=f"needs ../shared/datasets/{', '.join(missing)} (absent here)")
