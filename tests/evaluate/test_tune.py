import tomllib

import pytest

from conftest import DATA, make_engine
from ragship.evaluate.tune import Trial, _mark_pareto, tune, write_search_settings
from ragship.retrieve.fusion import convex_combination


def test_pareto_front():
    trials = [Trial("fast", {}, 0.60, 0, 5), Trial("best", {}, 0.75, 0, 50), Trial("dominated", {}, 0.70, 0, 60),
              Trial("middle", {}, 0.70, 0, 20)]
    _mark_pareto(trials)
    assert [t.name for t in trials if t.pareto] == ["fast", "best", "middle"]


def test_convex_combination_normalises_each_retriever():
    fused = convex_combination([{"a": 10.0, "b": 0.0}, {"b": 0.8, "c": 0.4}], [1.0, 1.0])
    assert fused == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})


def test_write_keeps_the_rest_of_the_file(tmp_path):
    config = tmp_path / "ragship.toml"
    config.write_text('# mine\n[embed]\nbatch_size = 16\n\n[search]\nrrf_k = 60\ntop_k = 5\n\n[answer]\nmax_sentences = 2\n')
    write_search_settings(config, {"mode": "hybrid", "fusion": "convex", "rrf_k": 20, "dense_weight": 1.5})
    data = tomllib.loads(config.read_text())
    assert data["search"] == {"mode": "hybrid", "fusion": "convex", "rrf_k": 20, "dense_weight": 1.5, "top_k": 5}
    assert data["embed"] == {"batch_size": 16} and data["answer"] == {"max_sentences": 2}
    assert config.read_text().startswith("# mine\n")
    fresh = tmp_path / "new.toml"
    write_search_settings(fresh, {"mode": "bm25"})
    assert tomllib.loads(fresh.read_text()) == {"search": {"mode": "bm25"}}


def test_tune_on_a_tiny_dataset_and_the_choice_reproduces(tmp_path, cache_dir, monkeypatch):
    from ragship.evaluate.runner import evaluate

    engine = make_engine(tmp_path / "h", cache_dir)
    trials = tune(engine, DATA / "beir-mini", "test")
    assert len(trials) == 2 + 6 * 7 + 7 and any(t.pareto for t in trials)
    assert trials[0].ndcg == max(t.ndcg for t in trials)
    config = tmp_path / "ragship.toml"
    write_search_settings(config, trials[0].settings)
    monkeypatch.setenv("RAGSHIP_CONFIG", str(config))
    chosen = make_engine(tmp_path / "h", cache_dir)
    assert chosen.settings.search.model_dump(include=set(trials[0].settings)) == trials[0].settings
    assert evaluate(chosen, DATA / "beir-mini", "test")["metrics"]["ndcg@10"] == pytest.approx(trials[0].ndcg, abs=1e-4)
