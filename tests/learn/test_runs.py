import subprocess
import sys
from contextlib import contextmanager

from ragship.learn.runs import tree_mb

HOLDS_200_MB = "import time; held = bytearray(b'x') * (200 << 20); print('ready', flush=True); time.sleep(60)"
SPIKES_300_MB = ("import time; held = bytearray(b'x') * (300 << 20); del held; print('ready', flush=True); "
                 "time.sleep(60)")


@contextmanager
def child_running(script: str):
    """A child process of this one, once it has done what `script` does before printing "ready"."""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        yield
    finally:
        child.kill()
        child.wait()


def test_a_runs_memory_counts_its_children():
    # a run trains in a child process (learn/improve.py): its bound and its reported peak must see that memory
    before = tree_mb()
    with child_running(HOLDS_200_MB):
        assert tree_mb() - before > 190


def test_a_childs_spike_counts_after_it_has_passed():
    # training's peak lasts a fraction of a step: samples of resident memory alone would miss it
    before = tree_mb()
    with child_running(SPIKES_300_MB):
        assert tree_mb() - before > 290


OWN_PEAK = "from ragship.learn.runs import MemoryBound; m = MemoryBound(); m.stop(); print(round(m.peak_mb()))"


def test_a_run_started_by_a_large_process_reports_its_own_peak_not_its_parents():
    # the scheduler's run is forked from the server: getrusage's peak would start at the server's size
    held = bytearray(b"x") * (600 << 20)
    assert tree_mb() > 600
    peak = int(subprocess.run([sys.executable, "-c", OWN_PEAK], capture_output=True, text=True, check=True).stdout)
    assert 0 < peak < 400
    del held
