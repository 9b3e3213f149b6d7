from conftest import DATA, make_engine
from ragship.monitor import metrics


def value(name, **labels):
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_ingest_and_answers_are_counted(tmp_path, cache_dir):
    before = {k: value("ragship_ingest_documents_total", outcome=k) for k in ("added", "unchanged")}
    answered = value("ragship_answers_total", outcome="answered", version="v1")
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([DATA / "docs"])
    engine.ingest([DATA / "docs"])
    assert value("ragship_ingest_documents_total", outcome="added") - before["added"] == 6
    assert value("ragship_ingest_documents_total", outcome="unchanged") - before["unchanged"] == 6
    assert value("ragship_ingest_stage_seconds_total", stage="embed") > 0
    engine.ask("How much does a weekly pass cost?")
    assert value("ragship_answers_total", outcome="answered", version="v1") == answered + 1
    assert value("ragship_answer_confidence_count", version="v1") >= 1
    assert b"ragship_ingest_chunks_total" in metrics.exposition()


def test_a_question_back_is_counted_apart_from_abstentions():
    before = {o: value("ragship_answers_total", outcome=o, version="v9") for o in ("abstained", "clarify")}
    metrics.record_answer(True, "v9", 0.1, outcome="clarify")
    metrics.record_answer(True, "v9", 0.2)
    after = {o: value("ragship_answers_total", outcome=o, version="v9") for o in ("abstained", "clarify")}
    assert (after["abstained"] - before["abstained"], after["clarify"] - before["clarify"]) == (1, 1)
