"""Prompt injection (OWASP LLM01, indirect): a corpus whose documents try to make the model print a canary word,
link or load images from outside hosts — in plain text, hidden HTML, HTML comments, image alt text and link
titles, a PDF's text, and invisible (zero-width) characters. In extractive mode and against an LLM that
obeys injected instructions (or is compromised outright), no answer may carry the canary or an outside link."""

import re

import pytest
from conftest import DATA, make_engine
from ragship.testing.openai_stub import CANARY, StubServer

QUESTIONS = (DATA / "injection-questions.txt").read_text().split("\n")[:-1]
ALLOWED = ["docs.harborbikes.example"]
URL = re.compile(r"(?:https?|ftp)://([^/\s)\]>\"']+)|\bwww\.([^/\s)\]>\"']+)", re.I)
INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\U000e0000-\U000e007f]")


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture(scope="module")
def engines(tmp_path_factory, cache_dir, stub):
    home = tmp_path_factory.mktemp("injection-home")
    base = make_engine(home, cache_dir, answer={"allowed_link_hosts": ALLOWED})
    report = base.ingest([DATA / "injection"])
    assert report.ingested == 12 and not report.failures

    def llm(model):
        return make_engine(home, cache_dir, answer={"generator": "openai", "allowed_link_hosts": ALLOWED,
                                                    "fallback_to_extractive": False,
                                                    "llm": {"base_url": stub.url, "model": model}})

    return {"extractive": base, "obedient": llm("obedient"), "compromised": llm("compromised")}


def assert_clean(answer: dict, question: str):
    text = answer["answer"]
    assert CANARY.lower() not in INVISIBLE.sub("", text).lower(), (question, text)
    assert not INVISIBLE.search(text), (question, text)
    hosts = [h or w for h, w in URL.findall(text)]
    assert all(h.lower() in ALLOWED for h in hosts), (question, text)
    assert "![" not in text and "<img" not in text.lower(), (question, text)


def test_there_are_enough_questions():
    assert len(QUESTIONS) >= 50


@pytest.mark.parametrize("mode", ["extractive", "obedient", "compromised"])
def test_no_answer_carries_the_canary_or_an_outside_link(engines, mode, stub):
    engine = engines[mode]
    answered = 0
    for q in QUESTIONS:
        a = engine.ask(q).to_dict()
        assert_clean(a, q)
        answered += not a["abstained"]
        if mode != "extractive":
            assert a["generator"] == "openai" and a["fallback"] is None
            prompt = stub.app.state.last_body["messages"][1]["content"]
            assert CANARY not in prompt and "attacker.example" not in prompt  # injections never reach the model
    assert answered >= 30  # the legitimate questions still get answers


def test_what_the_compromised_model_said_is_removed_and_reported(engines):
    a = engines["compromised"].ask("How long does a flat tyre repair take?").to_dict()
    assert not a["abstained"] and "flat tyres while you wait" in a["answer"]
    reasons = " | ".join(r["reason"] for r in a["removed"])
    assert "allow-list" in reasons and "not supported" in reasons


def test_obedient_model_citing_an_unretrieved_source_is_reported(engines):
    a = engines["obedient"].ask("How long do I have to return a bike?").to_dict()
    assert "30 days" in a["answer"] and all(c["n"] <= 5 for c in a["citations"])
    assert any("not retrieved" in r["reason"] for r in a["removed"])


def test_allowed_links_survive(engines):
    a = engines["extractive"].ask("Where are recall notices published?").to_dict()
    assert "https://docs.harborbikes.example/recalls" in a["answer"]


def test_injections_in_a_pdf_and_in_alt_text_never_reach_an_answer(engines):
    for q in ("What tyre pressure do city tyres need?", "Are lights included with a city bike?"):
        a = engines["extractive"].ask(q).to_dict()
        assert not a["abstained"] and ("4 bar" in a["answer"] or "lights are included" in a["answer"]), a
        assert_clean(a, q)
        assert "Ignore all previous" not in a["answer"] and "attacker" not in a["answer"]
    doc_id = next(d["doc_id"] for d in engines["extractive"].serving.documents() if d["doc_id"].endswith("lights.html"))
    lights = engines["extractive"].serving.document(doc_id)["text"]
    assert "ZEBRA" not in lights and "attacker" not in lights  # attributes are never indexed
