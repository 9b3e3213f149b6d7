"""Asking in a conversation on the API (issue 51): /v1/ask and /v1/ask/stream with the earlier messages and a
conversation id, OpenAI chat with its messages (through the official SDK), MCP's ask with a conversation, a key's
own conversations, and a question back counted apart in the query log and the business metrics. In process, over
four short articles where "and when did it end?" means the boycott only after a question about it."""

import json
import re

import openai
import pytest

from inprocess import call, service
from ragship.monitor.windows import business

FIRST = "What was the 1980 Summer Olympics boycott?"
FOLLOW_UP = "and when did it end?"
BOYCOTT = "corpus/olympic-boycott.md"
ARTICLES = {
    "olympic-boycott.md": """# 1980 Summer Olympics boycott

The 1980 Summer Olympics boycott was one of several actions led by the United States to protest the Soviet invasion
of Afghanistan in December 1979. Sixty-five countries stayed away from the Moscow Games, and some athletes competed
under the Olympic flag instead of their national flags.

The 1980 Summer Olympics boycott ended on 3 August 1980, when the Moscow Games closed. Four years later the Soviet
Union and fourteen of its allies answered with a boycott of the 1984 Summer Olympics in Los Angeles.
""",
    "surgeon.md": """# Surgeon

A surgeon is a physician who treats injuries and diseases by operating on the body. In most countries a surgeon
first completes a medical degree and then a surgical residency of five to seven years in a teaching hospital.

Surgical training ends with board certification, after which a surgeon may specialise further in fields such as
cardiothoracic, orthopaedic or paediatric surgery. An operation ends when the surgeon closes the incision.
""",
    "american-football.md": """# American football

American football is a team sport played by two teams of eleven players on a rectangular field with goalposts at
each end. The offense tries to advance an oval ball down the field by running with it or passing it.

A professional game has four quarters of fifteen minutes and ends when time runs out in the fourth quarter. The
National Football League season ends with the Super Bowl, played in early February.
""",
    "sourdough.md": """# Sourdough bread

Sourdough bread is made by the fermentation of dough using wild lactobacilli and yeast. The starter is fed with
flour and water every day, and the dough rises slowly for twelve hours or more before it is baked.
""",
}
EARLIER = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": "A protest against the invasion."}]


def corpus(tmp):
    folder = tmp / "corpus"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def api(tmp_path_factory, cache_dir):
    tmp = tmp_path_factory.mktemp("conversation")
    callers = {"ana": ("reader", ""), "ben": ("reader", ""), "admin": ("admin", "")}
    with service(tmp, cache_dir, corpus(tmp), callers=callers) as (client, keys, _):
        yield client, keys


def ask(api, key, body, path="/v1/ask"):
    r = call(api, key, "POST", path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def streamed(api, key, body) -> dict:
    """The final `answer` event of /v1/ask/stream."""
    r = call(api, key, "POST", "/v1/ask/stream", json=body)
    assert r.status_code == 200, r.text
    answers = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    return answers[-1]["answer"]


def test_a_follow_up_is_answered_in_its_conversation(api):
    first = ask(api, "ana", {"q": FIRST})
    assert re.fullmatch(r"[0-9a-f]{32}", first["conversation_id"])  # a conversation starts: a new id
    for answer in (ask(api, "ana", {"q": FOLLOW_UP, "conversation": EARLIER,
                                    "conversation_id": first["conversation_id"]}),
                   streamed(api, "ana", {"q": FOLLOW_UP, "conversation": EARLIER,
                                         "conversation_id": first["conversation_id"]})):
        assert answer["conversation_id"] == first["conversation_id"]
        assert answer["question"] == FOLLOW_UP and answer["outcome"] == "answer"
        assert answer["searched"] == {"query": FOLLOW_UP, "context": [{"text": FIRST, "weight": 0.5}],
                                      "rewritten_by": None, "fallback": None}
        assert answer["citations"][0]["doc_id"] == BOYCOTT and "3 August 1980" in answer["answer"]
    alone = ask(api, "ana", {"q": FOLLOW_UP})  # without the conversation "it" could be any of three things
    assert alone["outcome"] == "clarify" and alone["abstained"] and alone["searched"]["context"] == []
    assert alone["answer"].startswith("Which do you mean") and alone["conversation_id"] != first["conversation_id"]


def test_a_conversation_is_checked_as_chat_messages_are(api):
    def problem(body):
        r = call(api, "ana", "POST", "/v1/ask", json={"q": FOLLOW_UP, **body})
        assert r.status_code == 422, r.text
        return r.json()["detail"]

    assert "conversation" in problem({"conversation": [{"role": "narrator", "content": "x"}]})
    assert "conversation" in problem({"conversation": [{"role": "user", "content": 5}]})
    assert "conversation" in problem({"conversation": "What was the boycott?"})
    assert "conversation" in problem({"conversation": [{"role": "user", "content": "x"}] * 200})
    assert "conversation_id" in problem({"conversation_id": "../../etc"})
    assert "conversation_id" in problem({"conversation_id": "x" * 65})
    assert "query is empty" in problem({"q": " ", "conversation": EARLIER})  # not the earlier question again


def test_a_key_sees_only_its_own_conversations(api):
    started = ask(api, "ana", {"q": FIRST, "conversation_id": "ana-chat-1"})
    followed = ask(api, "ana", {"q": FOLLOW_UP, "conversation": [*EARLIER[:1], {"role": "assistant", "content":
                                                                                 started["answer"]}],
                                "conversation_id": "ana-chat-1"})
    ask(api, "ben", {"q": "How long is a surgical residency?", "conversation_id": "ben-chat"})
    mine = call(api, "ana", "GET", "/v1/conversations").json()["conversations"]
    assert mine[0] == {"id": "ana-chat-1", "started": mine[0]["started"], "last": mine[0]["last"], "turns": 2,
                       "title": FIRST} and mine[0]["started"] < mine[0]["last"]
    assert "ben-chat" not in {c["id"] for c in mine}
    assert [c["id"] for c in call(api, "ben", "GET", "/v1/conversations").json()["conversations"]] == ["ben-chat"]
    turns = call(api, "ana", "GET", "/v1/conversations/ana-chat-1").json()
    assert turns["id"] == "ana-chat-1" and [t["question"] for t in turns["turns"]] == [FIRST, FOLLOW_UP]
    assert turns["turns"][0]["answer_id"] == started["id"] and turns["turns"][0]["answer"] == started["answer"]
    assert [t["outcome"] for t in turns["turns"]] == ["answer", "answer"] and "3 August" in turns["turns"][1]["answer"]
    assert [t["citations"] for t in turns["turns"]] == [cited(started), cited(followed)]  # issue 49: as they were
    assert call(api, "ben", "GET", "/v1/conversations/ana-chat-1").status_code == 404  # not ben's
    assert call(api, "ben", "GET", "/v1/conversations/never-asked").status_code == 404
    assert call(api, "ana", "GET", "/v1/conversations", params={"all": "true"}).status_code == 403
    every = call(api, "admin", "GET", "/v1/conversations", params={"all": "true"}).json()["conversations"]
    assert {"ana-chat-1", "ben-chat"} <= {c["id"] for c in every}
    assert call(api, "admin", "GET", "/v1/conversations/ben-chat").status_code == 404  # its own, unless all=true
    assert call(api, "admin", "GET", "/v1/conversations/ben-chat", params={"all": "true"}).json()["turns"][0][
        "question"] == "How long is a surgical residency?"


def test_a_question_back_is_counted_apart(api):
    client, _ = api
    log = client.app.state.service.log
    asked = ask(api, "ben", {"q": "When did it end?", "conversation_id": "ben-ambiguous"})
    assert asked["outcome"] == "clarify"
    shown = call(api, "ben", "GET", "/v1/conversations/ben-ambiguous").json()["turns"]
    assert shown == [{"answer_id": asked["id"], "at": shown[0]["at"], "question": "When did it end?",
                      "answer": asked["answer"], "outcome": "clarify", "citations": cited(asked)}]
    assert len(shown[0]["citations"]) >= 2  # the readings it names, each cited
    outcomes = dict(log.state.rows(_outcomes()))
    assert outcomes[asked["id"]] == "clarify"
    metrics = business(log, "default", 0, min_requests=1)
    asks = list(outcomes.values())
    assert metrics["clarify_rate"] == round(asks.count("clarify") / len(asks), 4) > 0
    assert metrics["abstain_rate"] == round(asks.count("abstained") / len(asks), 4)
    assert metrics["answer_rate"] + metrics["abstain_rate"] + metrics["clarify_rate"] == pytest.approx(
        1 - asks.count("no_result") / len(asks), abs=1e-3)


def cited(answer: dict) -> list[dict]:
    """An answer's citations as a reopened conversation shows them (/v1/ask's, without the passage's text)."""
    return [{k: c[k] for k in ("n", "doc_id", "chunk_id", "title", "start", "end")} for c in answer["citations"]]


def test_a_turn_logged_before_its_citations_were_numbered_numbers_them_in_order(api):
    """Issue 49: the query log kept a cited source's chunk without its number before; such a turn's citations take
    their position, and a chunk the index no longer holds is left out."""
    from ragship.monitor.observation import Observation

    client, keys = api
    answer = ask(api, "ana", {"q": "How long is a surgical residency?"})
    old = [{"doc_id": c["doc_id"], "chunk_id": c["chunk_id"], "cited": True} for c in answer["citations"]]
    gone = {"doc_id": "corpus/gone.md", "chunk_id": "corpus/gone.md#0", "cited": True}
    client.app.state.service.log.record(Observation(
        keys["ana"][4:12], "default", "ask", 3.0, "How long is a surgical residency?", "answered",
        answer=answer["answer"], sources=[gone, *old, {**old[0], "chunk_id": "retrieved", "cited": False}],
        conversation_id="ana-before-49"))
    (turn,) = call(api, "ana", "GET", "/v1/conversations/ana-before-49").json()["turns"]
    assert turn["citations"] == [{**c, "n": n} for n, c in enumerate(cited(answer), 2)] and turn["citations"]


def _outcomes():
    from sqlalchemy import select

    from ragship.state.tables import REQUESTS

    return select(REQUESTS.c.id, REQUESTS.c.outcome).where(REQUESTS.c.kind == "ask")


def openai_client(api, key) -> openai.OpenAI:
    client, keys = api
    return openai.OpenAI(base_url=f"{client.base_url}/v1", api_key=keys[key], max_retries=0, http_client=client)


def test_chat_asks_the_last_message_in_its_conversation(api):
    messages = [{"role": "system", "content": "Be brief."}, *EARLIER, {"role": "user", "content": FOLLOW_UP}]
    chat = openai_client(api, "ana").chat.completions
    reply = chat.create(model="ragship", messages=messages)
    chunks = list(chat.create(model="ragship", messages=messages, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    for text, answer in ((reply.choices[0].message.content, reply.model_extra["ragship"]),
                         (streamed, chunks[-1].model_extra["ragship"])):
        assert "3 August 1980" in text and f"({BOYCOTT})" in text
        assert answer["question"] == FOLLOW_UP and answer["searched"]["context"] == [{"text": FIRST, "weight": 0.5}]
        assert answer["citations"][0]["doc_id"] == BOYCOTT and answer["conversation_id"] is None
    assert reply.usage.prompt_tokens > 0 and chunks[-1].usage.completion_tokens > 0
    back = chat.create(model="ragship", messages=[{"role": "user", "content": FOLLOW_UP}])
    assert back.choices[0].message.content.startswith("Which do you mean")  # a question back, not an abstention
    assert back.model_extra["ragship"]["outcome"] == "clarify"
    tagged = chat.create(model="ragship", messages=messages, extra_body={"conversation_id": "ana-in-chat"})
    assert tagged.model_extra["ragship"]["conversation_id"] == "ana-in-chat"
    assert call(api, "ana", "GET", "/v1/conversations/ana-in-chat").json()["turns"][0]["question"] == FOLLOW_UP


def test_mcp_asks_in_a_conversation(api):
    client, keys = api
    headers = {"Authorization": f"Bearer {keys['ana']}", "Accept": "application/json, text/event-stream"}
    arguments = {"question": FOLLOW_UP, "conversation": EARLIER, "conversation_id": "ana-agent"}
    r = client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                                   "params": {"name": "ask", "arguments": arguments}})
    assert r.status_code == 200, r.text
    answer = r.json()["result"]["structuredContent"]
    assert answer["searched"]["context"] == [{"text": FIRST, "weight": 0.5}]
    assert answer["conversation_id"] == "ana-agent" and answer["citations"][0]["doc_id"] == BOYCOTT
    bad = client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "ask", "arguments": {"question": FOLLOW_UP, "conversation": [{"role": "narrator"}]}}}).json()
    assert bad["result"]["isError"] and "conversation" in bad["result"]["content"][0]["text"]


def test_a_failed_rewrite_is_said_in_the_answer(tmp_path, cache_dir):
    from ragship.testing.openai_stub import StubServer

    with StubServer() as stub:  # model "error": every call fails, the rewrite as the answer
        llm = f'[answer]\ngenerator = "openai"\n[answer.llm]\nbase_url = "{stub.url}"\nmodel = "error"\nretries = 0\n'
        with service(tmp_path, cache_dir, corpus(tmp_path), llm, {"ana": ("reader", "")}) as (client, keys, _):
            api = client, keys
            reply = openai_client(api, "ana").chat.completions.create(model="ragship", messages=[
                *EARLIER, {"role": "user", "content": FOLLOW_UP}])
            asked = ask(api, "ana", {"q": FOLLOW_UP, "conversation": EARLIER})
    for answer in (reply.model_extra["ragship"], asked):
        assert answer["searched"]["fallback"]["from"] == "openai" and "500" in answer["searched"]["fallback"]["reason"]
        assert answer["searched"]["context"] == [{"text": FIRST, "weight": 0.5}]  # the weighted turns instead
        assert answer["citations"][0]["doc_id"] == BOYCOTT and answer["fallback"]["from"] == "openai"
