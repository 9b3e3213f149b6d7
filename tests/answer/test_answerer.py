"""The answering pipeline over a real index: LLM generation with verification, fallback to extractive when the
endpoint fails (within its timeout, saying why), the low-confidence policies, and streaming."""

import socket
import time

import pytest
from conftest import make_engine
from ragship.testing.openai_stub import StubServer

QUESTION = "How much is a single ticket?"


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server


def llm_engine(docs_engine, cache_dir, base_url, model, **answer):
    return make_engine(docs_engine.home.root, cache_dir, answer={
        "generator": "openai", "llm": {"base_url": base_url, "model": model, "timeout_s": 1.5, "backoff_s": 0.05},
        **answer})


def test_llm_answer_is_verified_and_cited(docs_engine, cache_dir, stub):
    a = llm_engine(docs_engine, cache_dir, stub.url, "grounded").ask(QUESTION)
    assert a.generator == "openai" and not a.abstained and a.fallback is None
    assert a.answer.endswith("[1]") and a.citations[0].n == 1 and a.citations[0].quotes


@pytest.mark.parametrize("model,reason", [("slow", "timeout"), ("malformed", "malformed"), ("error", "HTTP 500")])
def test_endpoint_failures_fall_back_to_extractive_within_the_timeout(docs_engine, cache_dir, stub, model, reason):
    before = stub.app.state.calls.get(model, 0)
    t = time.monotonic()
    a = llm_engine(docs_engine, cache_dir, stub.url, model).ask(QUESTION)
    # the slow endpoint answers after 30 s: one attempt, cut at the 1.5 s deadline, no retry after it (a bound
    # with room for a slow box: retries that ignored the deadline would take 30 s and more)
    assert time.monotonic() - t < 1.5 + 10
    assert stub.app.state.calls[model] - before == (1 if model == "slow" else 3 if model == "error" else 1)
    assert a.fallback["from"] == "openai" and reason in a.fallback["reason"]
    assert a.generator == "extractive" and not a.abstained and "2 krona" in a.answer


def test_endpoint_down_falls_back(docs_engine, cache_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    a = llm_engine(docs_engine, cache_dir, url, "m").ask(QUESTION)
    assert a.fallback and "ConnectError" in a.fallback["reason"] and "2 krona" in a.answer


def test_model_saying_not_found_abstains_with_the_reason(docs_engine, cache_dir, stub):
    a = llm_engine(docs_engine, cache_dir, stub.url, "notfound").ask(QUESTION)
    assert a.abstained and "do not answer" in a.warning and a.citations


def test_streaming_sends_only_verified_sentences(docs_engine, cache_dir, stub):
    events = list(llm_engine(docs_engine, cache_dir, stub.url, "compromised").ask_stream(QUESTION))
    sentences = [e["text"] for e in events if e["type"] == "sentence"]
    final = events[-1]["answer"]
    assert events[-1]["type"] == "answer" and sentences
    assert all("CANARY" not in s and "attacker" not in s and "cheese" not in s for s in sentences)
    assert "cheese" not in final["answer"] and final["removed"]


def test_stream_falls_back_when_the_stream_breaks(docs_engine, cache_dir, stub):
    events = list(llm_engine(docs_engine, cache_dir, stub.url, "broken-stream").ask_stream(QUESTION))
    assert events[-1]["answer"]["fallback"]["reason"].startswith("the endpoint reported an error mid-stream")


@pytest.mark.parametrize("policy", ["abstain", "warn", "retry"])
def test_low_confidence_policies(docs_engine, cache_dir, policy):
    engine = make_engine(docs_engine.home.root, cache_dir, answer={"fallback": policy, "abstain_threshold": 0.99})
    a = engine.ask(QUESTION)
    if policy == "warn":
        assert not a.abstained and "below the threshold" in a.warning
    else:  # nothing reaches 0.99: a retry in bm25 mode is tried, then the answer abstains
        assert a.abstained and a.confidence < 0.99 and len(a.citations) == 3


def test_retry_answers_when_the_other_mode_is_confident(docs_engine, cache_dir):
    # dense and BM25 find evidence of different strength: a paraphrase of the 1894 sentence ("Where do I report lost
    # property?" was, until its sentence was read under its heading "Lost property" and both modes found it)
    question = "How old is the tram system?"
    confidence = {mode: docs_engine.ask(question, mode=mode).confidence for mode in ("dense", "bm25")}
    low, high = sorted(confidence, key=confidence.get)
    assert confidence[low] < confidence[high]
    threshold = (confidence[low] + confidence[high]) / 2  # the first mode falls short, the retry clears it
    engine = make_engine(docs_engine.home.root, cache_dir, answer={"fallback": "retry", "retry_mode": high,
                                                                   "abstain_threshold": threshold})
    answer = engine.ask(question, mode=low)
    assert not answer.abstained and answer.confidence == confidence[high]
    assert f"answered from a {high} retry" in answer.warning
