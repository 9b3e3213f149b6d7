"""What a question asked in a conversation searches for. Without an LLM: the question with the earlier user turns,
each turn back weighing `decay` times the one after it, in BM25's term weights and as a weighted sum of query
vectors (Searcher.search's `context`); joining the turns' text instead ranked worse than the question alone
(ADR 0023). With an LLM: its standalone rewrite of the question, and the weighted turns when it fails (said in
`fallback`). Messages are OpenAI-style ({"role", "content"}), the last user message the question."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from ragship.errors import GenerationError, InputError, QueryError

Message = Mapping[str, Any]
MAX_MESSAGES = 200  # a longer conversation is refused: only its last turns are searched anyway
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Searched:
    """One question of a conversation and what is searched for it: `query` at weight 1 (the question, or an LLM's
    standalone rewrite of it) and `context`, earlier user turns with their weights, newest first."""

    question: str
    query: str
    context: tuple[tuple[str, float], ...] = ()
    rewritten_by: str | None = None  # the LLM whose rewrite `query` is
    fallback: dict[str, str] | None = None  # {"from": the LLM, "reason"} when its rewrite failed
    turns: int = field(default=1, compare=False)  # user turns in the conversation

    def to_dict(self) -> dict[str, Any]:
        """What an answer reports as `searched`."""
        return {"query": self.query, "context": [{"text": t, "weight": round(w, 4)} for t, w in self.context],
                "rewritten_by": self.rewritten_by, "fallback": self.fallback}


class Contextualizer(Protocol):
    """Turns a conversation into what its last question searches for."""

    def searched(self, messages: Sequence[Message] | str) -> Searched: ...


class Rewriter(Protocol):
    """An LLM that rewrites a conversation's last question to stand alone (answer/openai.py's generator)."""

    name: str

    def standalone(self, turns: list[tuple[str, str]]) -> str: ...


def turns_of(messages: Sequence[Message] | str, max_chars: int) -> list[tuple[str, str]]:
    """(role, text) of the user and assistant messages up to the last user message, which is the question; a
    message's content may be a string or OpenAI's list of parts (their text is joined). A string is a conversation
    of one question."""
    if isinstance(messages, str):
        return [("user", messages)]  # checked as any query is, by the search
    if not isinstance(messages, Sequence):
        raise QueryError("a conversation is a list of messages, each {\"role\": ..., \"content\": ...}")
    if len(messages) > MAX_MESSAGES:
        raise QueryError(f"the conversation has {len(messages)} messages; at most {MAX_MESSAGES} are accepted")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise QueryError(f"message {i + 1} of the conversation is not {{\"role\": ..., \"content\": ...}}")
        if m["role"] in ("user", "assistant"):
            turns.append((m["role"], content_text(m.get("content"), i)))
    last = max((i for i, (role, text) in enumerate(turns) if role == "user" and text.strip()), default=None)
    if last is None:
        raise QueryError("the conversation has no user message with text: the last one is the question")
    if len(turns[last][1]) > max_chars:
        raise QueryError(f"the last user message is {len(turns[last][1])} characters; a question may have at most "
                         f"{max_chars}")
    return [(role, text.strip()) for role, text in turns[:last + 1] if text.strip()]


def content_text(content: Any, i: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):  # [{"type": "text", "text": ...}, {"type": "image_url", ...}]
        return " ".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    raise QueryError(f"message {i + 1} of the conversation: content must be text or a list of text parts")


def load_messages(path: Path, question: str | None = None) -> list[dict[str, Any]]:
    """A conversation from a JSON file: a list of OpenAI-style messages, or an object with "messages" (a chat
    request's body); `question` is asked after them."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read the conversation ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not JSON ({e}); write a list of {{\"role\", \"content\"}} messages") from None
    messages = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(messages, list):
        raise InputError(f"{path}: expected a list of {{\"role\", \"content\"}} messages, or {{\"messages\": [...]}}")
    return messages + ([{"role": "user", "content": question}] if question else [])


class DecayedTurns:
    """The question at weight 1 and the `turns` − 1 user turns before it at decay, decay², … (assistant turns are
    not searched: adding the last answer moved nDCG@10 by less than a point either way, ADR 0023)."""

    def __init__(self, decay: float, turns: int, max_chars: int):
        self.decay, self.turns, self.max_chars = decay, turns, max_chars

    def searched(self, messages: Sequence[Message] | str) -> Searched:
        return self.of(turns_of(messages, self.max_chars))

    def of(self, turns: list[tuple[str, str]]) -> Searched:
        asked = [text for role, text in turns if role == "user"]
        question = asked[-1]
        earlier = asked[-self.turns:-1] if self.turns > 1 and self.decay > 0 else []
        context = tuple((text[:self.max_chars], self.decay ** n) for n, text in enumerate(reversed(earlier), 1)
                        if text != question)
        return Searched(question, question, context, turns=len(asked))


class Rewritten:
    """An LLM's standalone rewrite of the question, searched alone; where the LLM fails or returns nothing, the
    weighted turns of `fallback`, with the reason in `Searched.fallback`."""

    def __init__(self, llm: Rewriter, fallback: DecayedTurns):
        self.llm, self.weighted = llm, fallback

    def searched(self, messages: Sequence[Message] | str) -> Searched:
        turns = turns_of(messages, self.weighted.max_chars)
        weighted = self.weighted.of(turns)
        if weighted.turns < 2:
            return weighted
        try:
            rewrite = self.llm.standalone(turns).strip()[:self.weighted.max_chars]
        except GenerationError as e:
            log.warning("standalone question: the LLM failed (%s); searching the weighted turns", e)
            return replace(weighted, fallback={"from": self.llm.name, "reason": str(e)})
        if not rewrite:
            return replace(weighted, fallback={"from": self.llm.name, "reason": "the rewrite was empty"})
        return Searched(weighted.question, rewrite, (), self.llm.name, turns=weighted.turns)


def contextualizer(decay: float, turns: int, max_chars: int, llm: Rewriter | None = None) -> Contextualizer:
    """The configured way: the weighted turns, or with an LLM its rewrite (the weighted turns when it fails)."""
    weighted = DecayedTurns(decay, turns, max_chars)
    return Rewritten(llm, weighted) if llm is not None else weighted
