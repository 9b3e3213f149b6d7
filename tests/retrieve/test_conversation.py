"""A question asked in a conversation: what it searches for (the earlier user turns at decaying weights, or an LLM's
rewrite with a reported fallback), and that it finds the passage the question alone misses."""

import json

import pytest

from conftest import DATA, make_engine
from ragship.errors import GenerationError, QueryError
from ragship.retrieve.conversation import DecayedTurns, Rewritten, contextualizer, turns_of

MINI = DATA / "conversations-mini"


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


@pytest.fixture(scope="module")
def mini_engine(tmp_path_factory, cache_dir):
    engine = make_engine(tmp_path_factory.mktemp("conversations-home"), cache_dir)
    engine.release(engine.ingest([MINI / "corpus.jsonl"]))
    return engine


def test_earlier_user_turns_weigh_less_each_turn_back_and_answers_are_not_searched():
    messages = [user("first"), assistant("an answer"), user("second"), {"role": "system", "content": "be brief"},
                user("third"), assistant("another"), user("fourth?")]
    s = DecayedTurns(0.5, 3, 2000).searched(messages)
    assert (s.question, s.query) == ("fourth?", "fourth?")
    assert s.context == (("third", 0.5), ("second", 0.25)) and s.turns == 4
    assert DecayedTurns(0.0, 3, 2000).searched(messages).context == ()
    assert DecayedTurns(0.5, 1, 2000).searched(messages).context == ()
    assert DecayedTurns(0.5, 3, 2000).searched("a question alone").context == ()


def test_messages_are_read_as_openai_sends_them():
    parts = [{"type": "text", "text": "what is"}, {"type": "image_url", "image_url": {"url": "x"}},
             {"type": "text", "text": "Dada?"}]
    assert turns_of([user(parts), assistant(None), user("  ")], 2000) == [("user", "what is Dada?")]
    assert turns_of([user("q"), assistant("a")], 2000) == [("user", "q")]  # a trailing answer: the question is before


@pytest.mark.parametrize("messages, message", [
    ([], "no user message"),
    ([assistant("hello")], "no user message"),
    ([{"content": "no role"}], "message 1 of the conversation"),
    ([user({"text": "a dict"})], "content must be text"),
    ({"role": "user"}, "a list of messages"),
    ([user("x" * 2001)], "at most 2000"),
])
def test_malformed_conversations_are_refused_clearly(messages, message):
    with pytest.raises(QueryError, match=message):
        turns_of(messages, 2000)


class FakeRewriter:
    """Deterministic fake behind the Rewriter protocol."""

    name = "fake-llm"

    def __init__(self, reply="when did the 1980 Olympics boycott end?", error=None):
        self.reply, self.error, self.calls = reply, error, []

    def standalone(self, turns):
        self.calls.append(turns)
        if self.error:
            raise self.error
        return self.reply


def test_an_llm_rewrite_is_searched_alone_and_its_failure_falls_back_to_the_weighted_turns():
    messages = [user("what was the 1980 summer olympics boycott"), assistant("A protest."),
                user("and when did it end?")]
    s = Rewritten(FakeRewriter(), DecayedTurns(0.5, 4, 2000)).searched(messages)
    assert (s.question, s.query, s.context, s.rewritten_by, s.fallback) == (
        "and when did it end?", "when did the 1980 Olympics boycott end?", (), "fake-llm", None)
    failed = Rewritten(FakeRewriter(error=GenerationError("timed out")), DecayedTurns(0.5, 4, 2000)).searched(messages)
    assert failed.query == "and when did it end?" and failed.context == (("what was the 1980 summer olympics boycott",
                                                                          0.5),)
    assert failed.fallback == {"from": "fake-llm", "reason": "timed out"}
    assert Rewritten(FakeRewriter(reply=" "), DecayedTurns(0.5, 4, 2000)).searched(messages).fallback["reason"] == \
        "the rewrite was empty"
    alone = FakeRewriter()
    assert Rewritten(alone, DecayedTurns(0.5, 4, 2000)).searched("a first question").query == "a first question"
    assert alone.calls == []  # nothing to rewrite: no LLM call
    assert isinstance(contextualizer(0.5, 4, 2000), DecayedTurns)


def test_follow_ups_find_their_passage_in_context_and_not_alone(mini_engine):
    """The trial of issue 51: "and when did it end?" found a surgeon and American football; "who founded it?" a
    company."""
    for task in map(json.loads, (MINI / "conversations.jsonl").read_text().splitlines()[:2]):
        messages = task["messages"]
        want = {"olympics<::>2": "boycott-1980", "dada<::>2": "dada"}[task["_id"]]
        alone = mini_engine.search(messages[-1]["content"], k=3)
        assert alone.hits[0].doc_id != want
        searched, found = mini_engine.searched(messages)
        assert found.hits[0].doc_id == want and found.query == messages[-1]["content"]
        assert found.context == ((messages[0]["content"], 0.5),) == searched.context
        assert found.to_dict()["context"] == [{"text": messages[0]["content"], "weight": 0.5}]


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_each_retriever_uses_the_context(mini_engine, mode):
    messages = [user("What was the Dada art movement?"), assistant("An avant-garde movement."), user("who founded it?")]
    searched, found = mini_engine.searched(messages, mode)
    assert found.hits[0].doc_id == "dada" and found.mode == mode
