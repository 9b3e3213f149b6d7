"""A hostile corpus (30 bad files, bad corpus rows, a FIFO, a 50 MiB line) mixed with good files: every bad
input is reported with a reason, every good one is searchable, nothing crashes."""

import json
from pathlib import Path

from conftest import make_engine
from runs import ok, run


def test_hostile_corpus(tmp_path, cache_dir):
    corpus = tmp_path / "hostile"
    written = json.loads(ok(run("scripts", "hostile_corpus.py", corpus, "--json")).stdout)
    good, bad = written["good"], set(written["bad"])
    assert len(bad) >= 30
    engine = make_engine(tmp_path / "h", cache_dir)
    report = engine.ingest([corpus])

    failed_files = {str(Path(f.path.rsplit(":", 1)[0] if f.path.endswith(tuple("0123456789")) else f.path)
                        .relative_to(corpus)) for f in report.failures}
    assert failed_files == bad | {"beir/bad-rows.jsonl"}
    assert all(f.reason and f.reason != "None" for f in report.failures)
    assert sum(f.path.startswith(str(corpus / "beir/bad-rows.jsonl:")) for f in report.failures) == 4

    assert report.ingested == len(good) and report.version == "v1"
    for name, phrase in good.items():
        hits = engine.search(phrase, "bm25", 3).hits
        expected = "quokka" if name.endswith(".jsonl") else name
        assert hits and (expected in hits[0].doc_id or hits[0].doc_id == "beir-good-1"), (name, hits[:1])
    assert len(engine.ingestor.dead_letter.entries()) == len(report.failures)
