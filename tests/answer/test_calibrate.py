import json
import math

import numpy as np
import pytest
from conftest import DATA, make_engine

from ragship.answer.calibrate import (FEATURES, Calibration, QuestionPrior, choose_threshold, fit, rates,
                                      reliability)
from ragship.errors import ConfigError
from ragship.types import AbstainTarget


def test_threshold_is_the_highest_meeting_the_abstain_precision():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1])
    t = choose_threshold(p, y, AbstainTarget("precision", 0.75))
    assert t == 0.6  # abstaining below 0.6: 3 of 4 unanswerable; below 0.7 would be 3 of 5
    assert reliability(p, y, bins=2) == [
        {"bin": "0.0-0.5", "questions": 4, "mean_confidence": 0.25, "answerable": 0.25},
        {"bin": "0.5-1.0", "questions": 4, "mean_confidence": 0.75, "answerable": 0.75}]


@pytest.mark.parametrize("target, threshold", [
    ("abstain >= 0.75", 0.6),  # the lowest abstaining on 3 of the 4 unanswerable (0.1, 0.2, 0.4)
    ("abstain >= 100%", 0.9),  # all four: the one at 0.8 too
    ("answer >= 0.75", 0.6),  # the highest answering 3 of the 4 answerable (0.6, 0.7, 0.9)
    ("answer >= 1", 0.3),
])
def test_a_rate_target_holds_that_rate_and_answers_or_abstains_most_within_it(target, threshold):
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1])
    point = AbstainTarget.parse(target)
    t = choose_threshold(p, y, point)
    assert t == threshold
    rate = {"abstain": "abstain_rate", "answer": "answer_rate"}[point.rate]
    assert rates(p, y, t)[rate] >= point.value
    closer = max(x for x in (*p, 0.0) if x < t) if point.rate == "abstain" else min(x for x in (*p, 1.0) if x > t)
    assert rates(p, y, closer)[rate] < point.value  # one step towards the other rate misses the target


@pytest.mark.parametrize("text", ["abstain 0.8", "abstain >= 0", "abstain >= 1.5", "recall >= 0.5", "answer >= 120%"])
def test_an_operating_point_that_is_not_one_says_how_to_write_it(text):
    with pytest.raises(ValueError, match='e.g. "abstain >= 0.8"'):
        AbstainTarget.parse(text)


def test_a_calibration_written_before_operating_points_still_loads(tmp_path):
    old = {"features": ["semantic"], "mean": [0.0], "scale": [1.0], "coef": [1.0], "intercept": 0.0,
           "threshold": 0.4, "target_precision": 0.9}
    (tmp_path / "v1.json").write_text(json.dumps(old))
    assert Calibration.load(tmp_path / "v1.json").target == "precision >= 0.9"


def test_fit_learns_a_separable_signal_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for i in range(60):
        label = i % 2
        rows.append({f: float(rng.normal()) for f in FEATURES} | {"semantic": 0.7 * label + 0.1 * float(rng.normal())})
        labels.append(label)
    c = fit(rows, labels, AbstainTarget("precision", 0.9))
    assert c.validation["answer_rate"] >= 0.9 and c.validation["abstain_rate"] >= 0.85
    c.save(tmp_path / "c.json")
    again = Calibration.load(tmp_path / "c.json")
    assert again.predict(rows[1]) == pytest.approx(c.predict(rows[1])) and c.predict(rows[1]) > 0.5 > c.predict(rows[0])


def test_the_confidence_breaks_down_into_its_parts():
    c = Calibration(["semantic", "reader_best"], [0.5, 0.0], [0.25, 2.0], [2.0, 1.0], -0.5, 0.5, "answer >= 0.9")
    x = {"semantic": 0.75, "reader_best": 3.0}
    assert c.contributions(x) == pytest.approx({"base": -0.5, "retrieval": 2.0, "qa_model": 1.5})
    assert c.predict(x) == pytest.approx(1 / (1 + math.exp(-3.0)))


def test_a_question_prior_is_a_part_of_its_own_and_round_trips(tmp_path):
    prior = QuestionPrior("m", [1.0, -1.0], 0.5, {"source": "q", "answerable": 3, "unanswerable": 2})
    c = Calibration(["semantic", "question_prior"], [0.5, 0.0], [0.25, 1.0], [2.0, 0.5], -0.5, 0.5, "answer >= 0.9",
                    prior=prior)
    x = {"semantic": 0.5, "question_prior": prior.logit(np.array([2.0, 0.5]))}  # 2.0 - 0.5 + 0.5
    assert c.contributions(x) == pytest.approx({"base": -0.5, "retrieval": 0.0, "question": 1.0})
    c.save(tmp_path / "c.json")
    assert Calibration.load(tmp_path / "c.json").prior == prior


def test_fit_refuses_too_few_examples():
    with pytest.raises(ConfigError, match="at least 5 answerable and 5 unanswerable"):
        fit([{"semantic": 1.0}] * 4, [1, 1, 0, 0], AbstainTarget("precision", 0.8))


def test_calibrate_stores_with_the_version_and_eval_reports_answer_metrics(tmp_path, cache_dir):
    from ragship.evaluate.runner import calibrate, evaluate

    engine = make_engine(tmp_path / "home", cache_dir)
    c = calibrate(engine, DATA / "qa-mini", target=AbstainTarget("precision", 0.6))
    assert c.fitted_on["version"] == "v1" and (tmp_path / "home/index/calibration/v1.json").exists()
    assert engine.calibration().threshold == c.threshold
    assert engine.status()["calibration"]["current"] is True
    asked = engine.ask("Who painted the Mona Lisa?").to_dict()
    parts = asked["confidence_breakdown"]  # no QA model: the base rate and the retrieval features
    assert set(parts) == {"base", "retrieval"}
    assert 1 / (1 + math.exp(-sum(parts.values()))) == pytest.approx(asked["confidence"], abs=2e-3)
    result = evaluate(engine, DATA / "qa-mini")
    m = result["metrics"]
    assert {"answer_f1", "citation_precision", "answer_rate", "abstain_rate"} <= m.keys()
    assert m["answer_rate"] >= 0.5 and m["citation_precision"] >= 0.8 and m["answer_f1"] > 0.2
    assert result["answers"]["calibration"]["dataset"] == "qa-mini"


def test_the_cli_says_which_features_calibration_used(tmp_path, cache_dir):
    from typer.testing import CliRunner

    from ragship.cli import app

    env = {"RAGSHIP_CACHE_DIR": str(cache_dir), "RAGSHIP_CONFIG": str(tmp_path / "absent.toml")}
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "calibrate", str(DATA / "qa-mini"),
                                      "--target-precision", "0.6"], env=env)
    assert result.exit_code == 0, result.output
    assert "Features: 12 retrieval and support signals; no QA model (answer.qa_model is not set)" in result.output


def test_a_question_prior_fitted_with_the_calibration_scores_each_question(tmp_path, cache_dir, monkeypatch):
    from typer.testing import CliRunner

    from ragship.cli import app

    env = {"RAGSHIP_CACHE_DIR": str(cache_dir), "RAGSHIP_CONFIG": str(tmp_path / "absent.toml")}
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "calibrate", str(DATA / "qa-mini"),
                                      "--target-precision", "0.6", "--questions", str(DATA / "nq-mini")], env=env)
    assert result.exit_code == 0, result.output
    assert ("12 retrieval and support signals; no QA model (answer.qa_model is not set); a question prior fitted on 8 "
            f"answerable and 3 unanswerable questions ({DATA / 'nq-mini'})") in " ".join(result.output.split())
    status = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "status"], env=env).output
    assert "confidence   calibrated on qa-mini (v1), threshold" in status and "question prior on 11 questions" in status
    engine = make_engine(tmp_path / "home", cache_dir)
    c, question = engine.calibration(), "Who painted the Mona Lisa?"
    assert c.features[-1] == "question_prior" and c.prior.model == engine.embedder.model_id
    expected = c.prior.logit(engine.embedder.embed_query(question))
    answerer, searched, encoded = engine.answerer(), engine.context(question), []
    real = answerer.embedder.embed_query
    monkeypatch.setattr(answerer.embedder, "embed_query", lambda q: encoded.append(q) or real(q))
    assessed = answerer.assess(question, searched)
    assert assessed.features["question_prior"] == pytest.approx(expected)
    assert encoded == [question]  # the sentence scorer's; the prior read the vector the search encoded
    monkeypatch.undo()
    assert set(engine.ask(question).to_dict()["confidence_breakdown"]) == {"base", "retrieval", "question"}
    c.prior.model = "another-model"  # its vectors mean nothing to this one: the prior has no say
    assert engine.answerer().assess(question, engine.context(question)).parts["question"] == pytest.approx(0.0)
    from ragship.evaluate.runner import calibrate

    again = calibrate(engine, DATA / "qa-mini", target=AbstainTarget("precision", 0.6))  # without --questions
    assert "question_prior" not in again.features and again.prior is None


def _noisy(noise: float, n: int = 6000, seed: int = 0):
    """Questions whose true chance of being answerable is q; labels drawn from it, then `noise` of them flipped;
    the confidence p a model fitted on such labels gives (q squeezed towards noise and 1 - noise)."""
    rng = np.random.default_rng(seed)
    q = 1 / (1 + np.exp(-rng.normal(0.6, 2.0, n)))
    truth = (rng.random(n) < q).astype(int)
    labels = np.where(rng.random(n) < noise, 1 - truth, truth)
    return noise + (1 - 2 * noise) * q, truth, labels


@pytest.mark.parametrize("point", ["answer >= 0.9", "abstain >= 0.8"])
def test_an_operating_point_chosen_on_noisy_labels_allows_for_the_noise(point):
    from ragship.answer.calibrate import unbiased_labels

    p, truth, labels = _noisy(0.1)
    target = AbstainTarget.parse(point)
    rate = f"{target.rate}_rate"
    taken = rates(p, truth, choose_threshold(p, labels, target))[rate]  # the labels taken as right
    allowed = rates(p, truth, choose_threshold(p, unbiased_labels(labels, 0.1), target))[rate]
    assert abs(taken - target.value) > 0.03 and abs(allowed - target.value) < 0.015, (taken, allowed)


def test_clean_labels_and_no_noise_keep_the_label():
    from ragship.answer.calibrate import unbiased_labels

    _, _, labels = _noisy(0.1, n=50)
    assert list(unbiased_labels(labels, 0.0)) == list(labels)
    counted = unbiased_labels(labels, 0.1, clean=[True] * 10 + [False] * 40)
    assert list(counted[:10]) == list(labels[:10])
    assert set(np.round(counted[10:], 4)) <= {1.125, -0.125}  # (y - 0.1) / 0.8: together, the noisy labels' rates
    with pytest.raises(ConfigError, match="below 0.5"):
        unbiased_labels(labels, 0.5)


def test_a_version_inherits_only_an_earlier_calibration_that_is_not_passed_over(tmp_path):
    from ragship.answer.calibrate import CalibrationStore

    store = CalibrationStore(tmp_path)
    for version, threshold in (("v1", 0.1), ("v3", 0.3), ("v10", 0.5)):
        store.save(Calibration(["semantic"], [0.0], [1.0], [1.0], 0.0, threshold, "answer >= 0.9"), version)
    assert store.current("v3").threshold == 0.3  # its own
    assert store.current("v9").threshold == 0.3  # the newest earlier one (by number, not by file time)
    assert store.current("v2").threshold == 0.1  # never a later version's
    assert store.current("v9", passed_over=lambda v: v == "v3").threshold == 0.1  # a refused candidate's skipped
    assert CalibrationStore(tmp_path / "none").current("v1") is None


def test_a_refused_candidates_calibration_never_reaches_the_live_version(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([DATA / "qa-mini" / "corpus.jsonl"])
    live = engine.registry.live().id
    refitted = Calibration(["semantic"], [0.0], [1.0], [1.0], 0.0, 0.99, "answer >= 0.9")
    engine.calibrations.save(refitted, "v2")  # what an improvement run leaves for its candidate
    assert engine.calibration() is None and engine.calibration(live) is None
    assert engine.status()["calibration"] is None
