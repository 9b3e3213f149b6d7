
import pytest

from conftest import DATA, make_engine
from ragship.evaluate.tune import Trial, _mark_pareto, choose, tune
from ragship.settings import write_settings
from ragship.retrieve.fusion import convex_combination


def test_pareto_front():
    trials = [Trial("fast", {}, 0.60, 0, 5), Trial("best", {}, 0.75, 0, 50), Trial("dominated", {}, 0.70, 0, 60),
              Trial("middle", {}, 0.70, 0, 20)]
    _mark_pareto(trials)
    assert [t.name for t in trials if t.pareto] == ["fast", "best", "middle"]


def test_a_new_bm25_analysis_must_win_significantly():
    stem = {"bm25_stem": True, "bm25_stop_words": True}
    plain = {"bm25_stem": False, "bm25_stop_words": False}
    trials = [Trial("plain", {"mode": "bm25", **plain}, 0.62, 0, 5),
              Trial("stem", {"mode": "bm25", **stem}, 0.60, 0, 5)]
    noisy = {"plain": [1.0, 0.0, 0.86, 0.0, 1.0], "stem": [0.0, 1.0, 0.0, 1.0, 1.0]}
    assert choose(trials, noisy, {"bm25_stem": True, "bm25_stop_words": True})[0].name == "stem"
    steady = {"plain": [0.7, 0.6, 0.7, 0.5, 0.6], "stem": [0.68, 0.58, 0.68, 0.48, 0.58]}
    chosen, why = choose(trials, steady, {"bm25_stem": True, "bm25_stop_words": True})
    assert chosen.name == "plain" and "standard errors" in why
    assert choose(trials, noisy, {"bm25_stem": False, "bm25_stop_words": False})[0].name == "plain"  # no rebuild


def test_other_chunkings_are_tried_on_scratch_indexes(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "h", cache_dir)
    tuned = tune(engine, DATA / "beir-mini", "test", variants=({"bm25_stem": True, "bm25_stop_words": True},),
                 chunkings=((64, 8), (200, 32)))  # 200/32 is the configured one: not tried twice
    other = [t for t in tuned.trials if t.chunk]
    assert len(other) == len(tuned.trials) // 2 and {t.chunk["tokens"] for t in other} == {64}
    assert all(t.name.startswith("chunks 64/8, ") for t in other)
    assert not (tmp_path / "h" / "tune" / "chunks-64-8").exists()  # the scratch index is gone
    assert engine.registry.live().params["chunk"]["tokens"] == 200


def test_convex_combination_normalises_each_retriever():
    fused = convex_combination([{"a": 10.0, "b": 0.0}, {"b": 0.8, "c": 0.4}], [1.0, 1.0])
    assert fused == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})


def test_tune_on_a_tiny_dataset_and_the_choice_reproduces(tmp_path, cache_dir, monkeypatch):
    from ragship.evaluate.runner import evaluate

    engine = make_engine(tmp_path / "h", cache_dir)
    tuned = tune(engine, DATA / "beir-mini", "test")
    trials, chosen = tuned.trials, tuned.chosen
    assert len(trials) == 1 + 4 * (1 + 6 * 7 + 7) and any(t.pareto for t in trials)
    assert {t.settings.get("bm25_stem") for t in trials} == {None, True, False}
    assert trials[0].ndcg == max(t.ndcg for t in trials)
    # the variants' full-text indexes were built on the head and left no trace in the live version
    assert engine.registry.live().id == "v1" and not make_engine(tmp_path / "h", cache_dir).ingest(
        [DATA / "beir-mini" / "corpus.jsonl"]).new_version
    config = tmp_path / "ragship.toml"
    write_settings(config, "search", chosen.settings)
    monkeypatch.setenv("RAGSHIP_CONFIG", str(config))
    again = make_engine(tmp_path / "h", cache_dir)
    assert again.settings.search.model_dump(include=set(chosen.settings)) == chosen.settings
    assert evaluate(again, DATA / "beir-mini", "test")["metrics"]["ndcg@10"] == pytest.approx(chosen.ndcg, abs=1e-4)
