"""Slow: kill -9 real `ragship ingest` processes at random moments, then check the index equals a clean run's.
The full-size run (2,000 documents, 20 kills) is `python scripts/crash_ingest.py`."""

import pytest

from conftest import shared_dataset
from runs import json_lines, ok, run


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing(tmp_path):
    shared_dataset("scifact")
    proc = ok(run("scripts", "crash_ingest.py", "--docs", 300, "--kills", 5, "--batch", 16, "--max-delay", 9,
                  "--work", tmp_path, timeout=1800))
    result = json_lines(proc.stdout)[-1]
    assert result["kills"] == 5
    assert result["documents_after_crashes"] == 300 and result["documents_lost"] == 0
    assert result["duplicate_chunks"] == 0 and result["same_chunk_ids"] and result["ok"]
