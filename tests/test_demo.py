"""The README's demo corpus (README.md + docs/) answers questions about ragship, as `make demo` serves it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_corpus_answers_questions_about_ragship(tmp_path, cache_dir):
    env = {**os.environ, "RAGSHIP_HOME": str(tmp_path / "home"), "RAGSHIP_CACHE_DIR": str(cache_dir)}
    ragship = [sys.executable, "-m", "ragship"]
    ingest = subprocess.run([*ragship, "ingest", "README.md", "docs", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["failed"] == 0
    ask = subprocess.run([*ragship, "ask", "Which file types can I ingest?", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    answer = json.loads(ask.stdout)
    assert not answer["abstained"], answer
    assert answer["citations"] and "[1]" in answer["answer"]
    assert any(ext in answer["answer"].lower() for ext in (".pdf", "pdf", ".md", "markdown", "html"))
