"""Titles are structure, not answers (issue 49, finding 1; must-show 2): CLAP NQ dev written as .txt files with the
title on line 1 (as a team's trial did), every question asked, next to the same passages ingested as BEIR jsonl
(title apart from the text) in the same run. Printed: answers with a title line among their sentences, and the
answer rate (answerable questions) and abstain rate (unanswerable ones) of each.

    python benchmarks/titles_as_text.py [--data ../shared/datasets/clapnq-dev]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
from pathlib import Path

from ragship.testing.bench import commit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "clapnq-dev"


def as_text_files(corpus: Path, folder: Path) -> dict[str, str]:
    """Each passage as NAME.txt, its title on line 1; the titles by file stem."""
    folder.mkdir(parents=True)
    titles = {}
    for line in corpus.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        stem = re.sub(r"[^A-Za-z0-9]+", "_", row["title"])[:60] + "_" + row["_id"][-6:]
        (folder / f"{stem}.txt").write_text(f"{row['title']}\n{row['text']}\n", encoding="utf-8")
        titles[stem] = row["title"]
    return titles


def outcomes(engine, questions: dict[str, str], answerable: set[str], titles: set[str]) -> dict[str, float]:
    """Answer and abstain rates, and the answers holding a title line as one of their sentences."""
    answered = abstained = titled = 0
    for qid, text in questions.items():
        answer = engine.ask(text)
        if answer.abstained:
            abstained += qid not in answerable
            continue
        answered += qid in answerable
        sentences = [re.sub(r"\s*\[\d+\]", "", s).strip() for s in re.split(r"(?<=\])\s+", answer.answer)]
        titled += any(s.split("\n")[0].strip() in titles for s in sentences)  # the title alone, or a line of one
    n_yes = len(answerable)
    return {"answer_rate": round(answered / n_yes, 4), "abstain_rate": round(abstained / (len(questions) - n_yes), 4),
            "answers_with_a_title_line": titled, "questions": len(questions)}


def main() -> None:
    from ragship.engine import Engine
    from ragship.evaluate.beir import read_queries
    from ragship.settings import load_settings

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    a = p.parse_args()
    if not a.data.is_dir():
        raise SystemExit(f"{a.data} not found: this benchmark needs ../shared/datasets/clapnq-dev")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; commit {commit(ROOT)}; "
          f"data: {a.data}", flush=True)
    answerable = read_queries(a.data / "queries.jsonl")
    questions = {**answerable, **read_queries(a.data / "queries_unanswerable.jsonl")}
    tmp = Path(tempfile.mkdtemp(prefix="titles-as-text-"))
    titles = set(as_text_files(a.data / "corpus.jsonl", tmp / "txt").values())
    for name, source in (("BEIR jsonl", a.data / "corpus.jsonl"), (".txt, title on line 1", tmp / "txt")):
        engine = Engine(load_settings(home=tmp / name.split()[0].strip(".")))
        engine.ingest([source])
        print(json.dumps({"corpus": name, **outcomes(engine, questions, set(answerable), titles)}), flush=True)


if __name__ == "__main__":
    main()
