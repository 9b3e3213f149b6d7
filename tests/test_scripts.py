"""The scripts and benchmarks that back claims (README, ADRs, docs/benchmarks.md) cannot rot unseen (issue 31
item 15: scripts/fault_matrix.py died before its first row after make_embedder's signature changed): each one
parses its arguments and imports what it uses (`--help`); tests/test_script_runs.py and test_benchmark_runs.py run
one real row of each."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py")])


STARTER = """
import contextlib, io, json, os, runpy, sys, traceback
from pathlib import Path

root, skipped = Path(sys.argv[1]), {".venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis"}

def tree():  # every file of the repository with its modification time (what --help must not touch)
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skipped]
        found.update({os.path.join(folder, f): os.stat(os.path.join(folder, f)).st_mtime for f in files})
    return found

results = {}
for script in sys.argv[2:]:
    before, out, err, code = tree(), io.StringIO(), io.StringIO(), 0
    sys.argv, path = [script, "--help"], list(sys.path)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            code, _ = 1, traceback.print_exc()
    sys.path[:] = path
    results[script] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()[-2000:],
                       "wrote": sorted(set(tree().items()) ^ set(before.items()))[:5]}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def started() -> dict:
    """Every script run with --help, one after the other in one interpreter (each in its own would spend most
    of the time importing torch again): its exit code, output, and the files it changed."""
    run = subprocess.run([sys.executable, "-c", STARTER, str(ROOT), *map(str, SCRIPTS)], capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_script_starts(started, script):
    run = started[str(script)]
    library = '__name__ == "__main__"' not in script.read_text()  # a module other scripts import, not run
    assert run["code"] == 0 and ("usage:" in run["stdout"] or library), run["stderr"]
    assert run["wrote"] == [], "--help wrote into the repository"  # make_format_samples rewrote tests/data


def test_the_bench_refuses_a_share_of_peak_above_one():
    """Issue 31 item 16: `make bench` printed the embed stage at 175 % of its own peak (a 1024² single-thread,
    cold matmul as the roof). The peak is now measured on the encoder's own shapes, warmed, on every core, and
    a share above 100 % is reported as a failed measurement, never as a figure."""
    bench = runpy.run_path(str(ROOT / "benchmarks" / "bench_scifact.py"))  # its functions, main not run

    shapes = bench["encoder_shapes"](384, 1536, tokens=256)
    peak = bench["shape_peak"]("fp32", shapes)
    assert peak > 0 and shapes[1] == (256, 384, 1536)
    over = {"path": "torch-fp32", "failed": "achieved 583 GFLOP/s above the measured 333 GFLOP/s peak"}
    assert "not reported" in bench["efficiency_line"](over) and "%" not in bench["efficiency_line"](over)
    assert bench["share"](over) == "— (peak mis-measured)"
