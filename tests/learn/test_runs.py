import subprocess
import sys

from ragship.learn.runs import MemoryBound, tree_mb

HOLDS_200_MB = "import time; held = bytearray(b'x') * (200 << 20); print('ready', flush=True); time.sleep(60)"


def test_a_runs_memory_counts_its_childrens():
    # a run trains in a child process (learn/improve.py): its bound and its reported peak must see that memory
    before = tree_mb()
    child = subprocess.Popen([sys.executable, "-c", HOLDS_200_MB], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert tree_mb() - before > 190
    finally:
        child.kill()
        child.wait()


SPIKES_300_MB = ("import time; held = bytearray(b'x') * (300 << 20); del held; print('ready', flush=True); "
                 "time.sleep(60)")


def test_a_childs_spike_counts_after_it_has_passed():
    # training's peak lasts a fraction of a step: samples of resident memory alone would miss it
    before = tree_mb()
    child = subprocess.Popen([sys.executable, "-c", SPIKES_300_MB], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert tree_mb() - before > 290
    finally:
        child.kill()
        child.wait()


OWN_PEAK = "from ragship.learn.runs import MemoryBound; m = MemoryBound(); m.stop(); print(round(m.peak_mb()))"


def test_a_run_started_by_a_large_process_reports_its_own_peak_not_its_parents():
    # the scheduler's run is forked from the server: getrusage's peak would start at the server's size
    held = bytearray(b"x") * (600 << 20)
    assert tree_mb() > 600
    peak = int(subprocess.run([sys.executable, "-c", OWN_PEAK], capture_output=True, text=True, check=True).stdout)
    assert 0 < peak < 400
    del held
