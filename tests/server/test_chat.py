"""OpenAI-compatible chat, driven by the official `openai` client against the real app (in process: the client's
HTTP goes through FastAPI's TestClient): models per collection, cited answers (plain and streamed), abstention, a
key's groups, and errors in OpenAI's shape."""

import openai
import pytest

from inprocess import teams_service

RED_QUESTION = "What is the red relay codename?"
UNANSWERABLE = "Which orchestra premiered the harpsichord concerto in Vienna in 1788?"


@pytest.fixture(scope="module")
def chat(tmp_path_factory, cache_dir):
    callers = {"red": ("reader", "red"), "blue": ("reader", "blue")}
    with teams_service(tmp_path_factory.mktemp("chat"), cache_dir, callers) as (client, keys, _):
        yield {name: openai_client(client, key) for name, key in keys.items()}


def openai_client(client, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{client.base_url}/v1", api_key=key, max_retries=0, http_client=client)


def ask(client: openai.OpenAI, question: str, **kwargs):
    return client.chat.completions.create(model="ragship", messages=[{"role": "user", "content": question}],
                                          **kwargs)


def test_models_are_the_collections(chat):
    assert [m.id for m in chat["red"].models.list()] == ["ragship"]


def test_a_cited_answer(chat):
    reply = ask(chat["red"], RED_QUESTION)
    text, answer = reply.choices[0].message.content, reply.model_extra["ragship"]
    assert "CRIMSON-KESTREL-4471" in text and "[1]" in text and reply.choices[0].finish_reason == "stop"
    assert not answer["abstained"] and answer["citations"][0]["doc_id"] == "teams/red/launch-plan.md"
    assert "[1] Launch plan (teams/red/launch-plan.md)" in text.split("\n\n")[-1]  # the sources, after the answer
    assert reply.id == f"chatcmpl-{answer['id']}"


def test_a_streamed_cited_answer(chat):
    chunks = list(ask(chat["red"], RED_QUESTION, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "CRIMSON-KESTREL-4471" in text and "[1]" in text
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and not last.model_extra["ragship"]["abstained"]
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)


def test_an_unanswerable_question_abstains(chat):
    for stream in (False, True):
        if stream:
            chunks = list(ask(chat["red"], UNANSWERABLE, stream=True))
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
            answer = chunks[-1].model_extra["ragship"]
        else:
            reply = ask(chat["red"], UNANSWERABLE)
            text, answer = reply.choices[0].message.content, reply.model_extra["ragship"]
        assert answer["abstained"] and text.startswith("The documents I can read do not answer this"), text


def test_the_key_decides_what_chat_can_read(chat):
    for stream in (False, True):
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in ask(chat["blue"], RED_QUESTION, stream=True))
        else:
            text = ask(chat["blue"], RED_QUESTION).choices[0].message.content
        assert "CRIMSON" not in text and "teams/red" not in text


def test_the_last_user_message_is_the_question(chat):
    reply = chat["red"].chat.completions.create(model="ragship", messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Where does the billing database move?"},
        {"role": "assistant", "content": "To the new cluster."},
        {"role": "user", "content": [{"type": "text", "text": RED_QUESTION}]}])
    assert "CRIMSON-KESTREL-4471" in reply.choices[0].message.content


def test_errors_come_back_as_openai_errors(chat):
    with pytest.raises(openai.UnprocessableEntityError, match="no user message"):
        chat["red"].chat.completions.create(model="ragship", messages=[{"role": "system", "content": "hi"}])
    with pytest.raises(openai.NotFoundError, match="no collection 'nope'"):
        chat["red"].chat.completions.create(model="ragship/nope", messages=[{"role": "user", "content": "x"}])
    bad = openai.OpenAI(base_url=chat["red"].base_url, api_key="rsk_00000000_nope", max_retries=0,
                        http_client=chat["red"]._client)
    with pytest.raises(openai.AuthenticationError, match="valid key"):
        ask(bad, RED_QUESTION)


def test_a_follow_up_is_answered_as_a_standalone_question_with_an_llm(tmp_path_factory, cache_dir):
    from ragship.testing.openai_stub import StubServer

    with StubServer() as stub:
        llm = f'[answer]\ngenerator = "openai"\n[answer.llm]\nbase_url = "{stub.url}"\nmodel = "grounded"\n'
        with teams_service(tmp_path_factory.mktemp("chat-llm"), cache_dir, {"red": ("reader", "red")}, llm) \
                as (client, keys, _):
            reply = openai_client(client, keys["red"]).chat.completions.create(model="ragship", messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Tell me about the red relay launch plan"},
                {"role": "assistant", "content": "It launches in spring [1]."},
                {"role": "user", "content": "What is its codename?"}])
    answer = reply.model_extra["ragship"]
    assert answer["question"] == "What is its codename?"  # the question asked; what was searched for it:
    assert answer["searched"]["query"] == "What is its codename? (regarding: Tell me about the red relay launch plan)"
    assert answer["searched"]["rewritten_by"] == "openai" and answer["searched"]["fallback"] is None
    assert answer["citations"] and answer["citations"][0]["doc_id"] == "teams/red/launch-plan.md"
