"""The scripts and benchmarks that back claims (README, ADRs, docs/benchmarks.md) cannot rot unseen (issue 31
item 15: scripts/fault_matrix.py died before its first row after make_embedder's signature changed): each one
parses its arguments and imports what it uses (`--help`), and the fault matrix runs one row end to end."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py")])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_script_starts(script):
    run = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_fault_matrix_runs_a_row_end_to_end():
    run = subprocess.run([sys.executable, "scripts/fault_matrix.py", "--only", "LIVE: truncated", "--json"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    rows = json.loads(run.stdout)
    assert run.returncode == 0 and len(rows) == 1, run.stderr[-2000:]
    assert rows[0]["lost"] == 0 and rows[0]["serving"].startswith("yes") and "doctor" in rows[0]["recovered_by"]
