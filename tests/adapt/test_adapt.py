"""`ragship adapt` on tiny data: it trains for real (slow), saves the model with its provenance, writes
embed.model, and builds a new index version embedded by the adapted model."""

import json
import random

import pytest
from conftest import DATA, make_engine

from ragship.adapt.pairs import cloze_pairs, labeled_pairs

@pytest.mark.slow
def test_labeled_adaptation_builds_a_new_version(tmp_path, cache_dir):
    from ragship.adapt.runner import adapt

    engine = make_engine(tmp_path / "home", cache_dir)
    report = adapt(engine, DATA / "qa-mini", "test", epochs=2, batch_size=4, reranker=True)
    assert report.mode == "labeled" and report.pairs >= 6 and report.training["steps"] == 4
    assert report.version == "v2"
    saved = json.loads((tmp_path / "home" / "models").glob("*/ragship-adapt.json").__next__().read_text())
    assert saved["data_sha256"] == report.data_sha256 and saved["validation"]["queries"] == 1
    adapted = make_engine(tmp_path / "home", cache_dir, embed={"model": report.model_path}, rerank={"model": ""})
    assert adapted.registry.live().model_id == adapted.embedder.model_id != engine.embedder.model_id
    assert adapted.search("Who painted the Mona Lisa?").hits[0].doc_id == "p9"
    assert engine.registry.get("v1").model_id == engine.embedder.model_id  # the previous version stays
    reranker = report.extra["reranker"]
    assert reranker["training"]["steps"] > 0
    reranked = make_engine(tmp_path / "home", cache_dir, embed={"model": report.model_path},
                           rerank={"model": reranker["model_path"], "top_n": 5})
    result = reranked.search("Who painted the Mona Lisa?", k=3)
    assert "rerank" in result.timings_ms and len(result.hits) == 3 and result.ranked["rerank"]


def test_pairs_have_hard_negatives_and_cloze_queries(docs_engine):
    searcher = docs_engine.searcher()
    rng = random.Random(0)
    pairs = labeled_pairs({"q": "How much is a single ticket?"}, {"q": {"docs/handbook/trams.md": 1}}, searcher, rng)
    assert pairs and "2 krona" in pairs[0].positive and "2 krona" not in pairs[0].negative
    cloze = cloze_pairs(searcher, rng, 5)
    assert len(cloze) == 5 and all(p.query not in p.positive and p.query.split()[0] for p in cloze)
