"""The OpenAI-compatible client against a real HTTP server speaking the protocol (ragship.testing.openai_stub)."""

import socket
import time

import pytest
from ragship.testing.openai_stub import StubServer

from ragship.answer.openai import OpenAIClient
from ragship.errors import ConfigError, GenerationError
from ragship.settings import LLMSettings

CHAT = [{"role": "system", "content": "rules"},
        {"role": "user", "content": "<<SOURCE 1>>\ntitle: t\nTrams run all night. More text.\n<</SOURCE 1>>"}]


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server


def client(stub, model, **kw):
    return OpenAIClient(LLMSettings(base_url=stub.url, model=model, backoff_s=0.01, **kw))


def test_complete_and_stream_give_the_same_text(stub):
    assert client(stub, "grounded").complete(CHAT) == "Trams run all night. [1]"
    pieces = list(client(stub, "grounded").stream(CHAT))
    assert len(pieces) > 1 and "".join(pieces) == "Trams run all night. [1]"


def test_key_comes_from_the_named_environment_variable(stub, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", "sk-test-123")
    client(stub, "grounded", api_key_env="MY_LLM_KEY").complete(CHAT)
    assert stub.app.state.last_body["model"] == "grounded"
    assert stub.app.state.last_authorization == "Bearer sk-test-123"
    monkeypatch.delenv("MY_LLM_KEY")
    client(stub, "grounded", api_key_env="MY_LLM_KEY").complete(CHAT)
    assert stub.app.state.last_authorization is None  # no key: no header, not a placeholder


def test_server_errors_are_retried_then_reported(stub):
    before = stub.app.state.calls.get("error", 0)
    with pytest.raises(GenerationError, match="HTTP 500"):
        client(stub, "error", retries=2).complete(CHAT)
    assert stub.app.state.calls["error"] - before == 3


def test_rate_limit_is_retried_and_succeeds(stub):
    assert client(stub, "flaky", retries=2).complete(CHAT).endswith("[1]")


def test_malformed_reply_is_an_error(stub):
    with pytest.raises(GenerationError, match="malformed"):
        client(stub, "malformed").complete(CHAT)


def test_the_timeout_bounds_the_whole_call(stub):
    before, t = stub.app.state.calls.get("slow", 0), time.monotonic()
    with pytest.raises(GenerationError, match="within the 1 s timeout"):
        client(stub, "slow", timeout_s=1, retries=3).complete(CHAT)
    assert stub.app.state.calls["slow"] - before == 1  # the first attempt used the deadline up: no retry
    assert time.monotonic() - t < 1 + 10  # each attempt would take 30 s: room for a slow box, not for a retry


def test_endpoint_down_is_an_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket closes
    c = OpenAIClient(LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m", backoff_s=0.01, retries=1))
    with pytest.raises(GenerationError, match="ConnectError"):
        c.complete(CHAT)


def test_an_error_mid_stream_is_reported(stub):
    with pytest.raises(GenerationError, match="mid-stream"):
        list(client(stub, "broken-stream").stream(CHAT))


def test_missing_endpoint_settings_are_a_config_error():
    with pytest.raises(ConfigError, match="answer.llm.base_url"):
        OpenAIClient(LLMSettings())


def test_a_follow_up_is_rewritten_to_stand_alone_and_falls_back_to_itself(docs_engine, cache_dir):
    from conftest import make_engine

    turns = [("user", "How much is a single ticket?"), ("assistant", "A single ticket costs 2 euros [1]."),
             ("user", "And for children?")]
    with StubServer() as stub:
        def engine(model):
            return make_engine(docs_engine.home.root, cache_dir, answer={
                "generator": "openai", "llm": {"base_url": stub.url, "model": model, "timeout_s": 1.5}})

        assert engine("grounded").standalone(turns) == "And for children? (regarding: How much is a single ticket)"
        sent = stub.app.state.last_body["messages"]
        assert "standalone question" in sent[0]["content"] and "assistant: A single ticket costs" in sent[1]["content"]
        assert engine("error").standalone(turns) == "And for children?"  # the LLM failed: the question as asked
        calls = dict(stub.app.state.calls)
        assert engine("grounded").standalone(turns[-1:]) == "And for children?"  # nothing to resolve: no call
        assert stub.app.state.calls == calls
    assert docs_engine.standalone(turns) == "And for children?"  # no LLM configured
