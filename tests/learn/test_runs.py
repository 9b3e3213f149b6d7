import subprocess
import sys

from ragship.learn.runs import tree_mb

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
