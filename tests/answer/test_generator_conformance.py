"""Every Generator (answer/base.py) passes the same checks: extractive, OpenAI-compatible (against the stub
server) and the scripted test double. Add an implementation to GENERATORS to hold it to the protocol."""

import re

import pytest
from ragship.testing.openai_stub import StubServer
from scripted import ScriptedGenerator

from ragship.answer import ExtractiveGenerator, Generator
from ragship.answer.openai import OpenAIClient, OpenAIGenerator
from ragship.answer.prompt import NOT_FOUND
from ragship.settings import AnswerSettings, LLMSettings
from ragship.text import sentence_spans

QUESTION = "How much is a single tram ticket?"
MARKER = re.compile(r"\[(\d+)\]")
TRAILING = re.compile(r"([.!?])((?:\s*\[\d+\])+)")


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture(params=["extractive", "openai", "scripted"])
def generator(request, docs_engine) -> Generator:
    if request.param == "extractive":
        return ExtractiveGenerator(docs_engine.embedder, AnswerSettings())
    if request.param == "openai":
        stub = request.getfixturevalue("stub")
        return OpenAIGenerator(OpenAIClient(LLMSettings(base_url=stub.url, model="grounded", backoff_s=0.01)), 3)
    return ScriptedGenerator()


@pytest.fixture(scope="module")
def hits(docs_engine):
    return docs_engine.search(QUESTION, k=5).hits


def test_is_a_generator(generator):
    """The Protocol's surface by its signatures: draft and stream take (question, hits)."""
    import inspect

    assert isinstance(generator.name, str) and generator.name
    for method in (generator.draft, generator.stream):
        inspect.signature(method).bind("question", [])  # TypeError if it takes other arguments


def test_every_sentence_cites_a_given_hit(generator, hits):
    draft = generator.draft(QUESTION, hits)
    assert draft.strip() and draft != NOT_FOUND
    claims = TRAILING.sub(r"\2\1", draft)  # "claim. [1]" -> "claim [1].", as verification reads it
    sentences = [claims[s:e] for s, e in sentence_spans(claims)]
    assert sentences
    for sentence in sentences:
        cited = [int(n) for n in MARKER.findall(sentence)]
        assert cited and all(1 <= n <= len(hits) for n in cited), sentence


def test_the_stream_adds_up_to_the_draft(generator, hits):
    pieces = list(generator.stream(QUESTION, hits))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == generator.draft(QUESTION, hits)


def test_no_sources_is_not_found(generator):
    assert generator.draft(QUESTION, []).strip() == NOT_FOUND
