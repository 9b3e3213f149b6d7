"""A question back when a question could mean several things the passages tell apart (issue 51)."""

import json

import numpy as np
import pytest

from conftest import DATA, make_engine
from ragship.answer.clarify import clarification, label, question_back, readings, unnamed_reference
from ragship.types import Hit

MINI = DATA / "conversations-mini"


def hit(doc, text, title="", heading=()):
    return Hit(f"{doc}#0", doc, title, text, "", 0, len(text), heading, 1.0, 1)


@pytest.mark.parametrize("question, earlier, unnamed", [
    ("How much did the Kestrel cost when it was new?", "", True),
    ("Tell me about the importance of this tricolor national flag.", "", True),
    ("What awards has the actor received?", "who sings at the beginning of nice for what", True),
    ("What awards has the actor received?", "which actor played Thor", False),  # the turn before names it
    ("How does it affect the cell?", "", True),
    ("How does it affect the cell?", "what is active transport in a cell", False),  # "it": what was asked before
    ("What did Joseph Lister use to sterilise surgical instruments?", "", False),
    ("Is this a good investment?", "", False),  # "this is": no noun it points at
])
def test_a_reference_to_something_unnamed_is_found(question, earlier, unnamed):
    assert unnamed_reference(question, earlier) is unnamed


def test_readings_are_titles_headings_or_the_words_a_passage_opens_with():
    assert label(hit("a", "Pale ale.", title="Kestrel Ale")) == "Kestrel Ale"
    assert label(hit("b", "Kestrels hover.", heading=("Birds", "Common kestrel"))) == "Common kestrel"
    assert label(hit("c", "The Hawker Siddeley Kestrel was an experimental jet aircraft. It flew.")) == \
        "The Hawker Siddeley Kestrel"
    assert label(hit("d", "One two three four five six seven eight nine ten eleven.")) == \
        "One two three four five six seven eight…"
    found = readings([hit("a", "x", "Kestrel Ale"), hit("a", "y", "Kestrel Ale"), hit("b", "z", "kestrel ale"),
                      hit("c", "w", "Common kestrel"), hit("d", "v", "Hawker Kestrel"), hit("e", "u", "Fifth")])
    assert [(h.doc_id, name) for h, name in found] == [("a", "Kestrel Ale"), ("c", "Common kestrel"),
                                                       ("d", "Hawker Kestrel")]
    assert question_back(["A [1]", "B [2]"]) == "Which do you mean: A [1] or B [2]? The documents speak of each."


class FixedVectors:
    """Deterministic fake behind the Embedder protocol: a vector per known text."""

    model_id, dim = "fake@1", 2

    def __init__(self, vectors):
        self.vectors = vectors

    def embed_query(self, text):
        return np.asarray(self.vectors[text], dtype=np.float32)


def test_a_question_on_the_conversations_subject_is_not_asked_back():
    hits = [hit("a", "x", "Atlantic Ocean"), hit("b", "y", "Pacific Ocean")]
    question = "Do this ocean's currents regulate the climate?"
    shifted = FixedVectors({question: [1, 0], "Is Shylock a villain?": [0, 1]})
    assert [name for _, name in clarification(question, ["Is Shylock a villain?"], hits, shifted)] == \
        ["Atlantic Ocean", "Pacific Ocean"]
    same = FixedVectors({question: [1, 0], "Where is the Gulf Stream?": [0.9, 0.2]})
    assert clarification(question, ["Where is the Gulf Stream?"], hits, same) is None
    assert clarification(question, [], hits[:1], shifted) is None  # one document: nothing to tell apart


def test_the_x_counts_only_the_documents_that_speak_of_x():
    hits = [hit("a", "Chris Hemsworth is an actor from Australia."), hit("b", "Harrison Ford is an actor."),
            hit("c", "Thor is a comic book hero.")]
    nothing_earlier = FixedVectors({})
    assert [(h.doc_id, name) for h, name in clarification("What awards has the actor received?", [], hits,
                                                           nothing_earlier)] == [("a", "Chris Hemsworth"),
                                                                                 ("b", "Harrison Ford")]
    assert clarification("What awards has the actor received?", [], [hits[0], hits[2]], nothing_earlier) is None
    # "this": a strong pointer, every document's reading counts
    assert len(clarification("What awards has this actor received?", [], [hits[0], hits[2]], nothing_earlier)) == 2


@pytest.fixture(scope="module")
def mini_engine(tmp_path_factory, cache_dir):
    engine = make_engine(tmp_path_factory.mktemp("clarify-home"), cache_dir)
    engine.release(engine.ingest([MINI / "corpus.jsonl"]))
    return engine


def test_an_ambiguous_question_is_asked_back_with_its_readings_cited(mini_engine):
    task = json.loads((MINI / "conversations.jsonl").read_text().splitlines()[-1])
    answer = mini_engine.ask(task["messages"]).to_dict()
    assert answer["outcome"] == "clarify" and answer["abstained"]
    assert {c["doc_id"] for c in answer["citations"]} >= {"kestrel-ale", "kestrel-aircraft"}
    assert answer["answer"].startswith("Which do you mean: ") and "Kestrel Ale [" in answer["answer"]
    assert answer["question"] == "How much did the Kestrel cost when it was new?"
    assert answer["searched"] == {"query": answer["question"], "context": [], "rewritten_by": None, "fallback": None}
    named = mini_engine.ask("When did the Hawker Siddeley Kestrel aircraft first fly?").to_dict()
    assert named["outcome"] == "answer" and named["citations"][0]["doc_id"] == "kestrel-aircraft"
    settings = mini_engine.settings.model_copy(update={"answer": mini_engine.settings.answer.model_copy(
        update={"clarify": False})})
    off = mini_engine.sibling(settings).ask(task["messages"]).to_dict()
    assert off["outcome"] == "abstain" and off["answer"] == "" and off["confidence"] == answer["confidence"]
