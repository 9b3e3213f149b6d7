"""The README's demo corpus (README.md, docs/ and the runbooks that docs/runbooks links to) answers questions
about ragship, as `make demo` serves it, including the very question the README's curl example asks."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote_plus

from conftest import make_engine

ROOT = Path(__file__).resolve().parents[1]


def readme_question() -> str:
    match = re.search(r"curl '127\.0\.0\.1:8000/v1/ask\?q=([^']+)'", (ROOT / "README.md").read_text())
    assert match, "the README's curl example is gone"
    return unquote_plus(match.group(1))


def test_demo_corpus_answers_questions_about_ragship(tmp_path, cache_dir):
    env = {**os.environ, "RAGSHIP_HOME": str(tmp_path / "home"), "RAGSHIP_CACHE_DIR": str(cache_dir)}
    ragship = [sys.executable, "-m", "ragship"]
    ingest = subprocess.run([*ragship, "ingest", "README.md", "docs", "src/ragship/runbooks", "--json"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=600)
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["failed"] == 0
    engine = make_engine(tmp_path / "home", cache_dir)  # the home `make demo` serves, asked in process

    def ask(question):
        return engine.ask(question).to_dict()

    answer = ask("Which file types can I ingest?")
    assert not answer["abstained"], answer
    assert answer["citations"] and "[1]" in answer["answer"]
    assert any(ext in answer["answer"].lower() for ext in (".pdf", "pdf", ".md", "markdown", "html"))
    readme = ask(readme_question())
    assert not readme["abstained"] and "[1]" in readme["answer"], readme
