"""The Generator protocol and the answer types every generator returns."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterator, Protocol

from ragship.types import Hit, public_source


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    chunk_id: str
    title: str
    text: str  # the cited chunk
    start: int  # the chunk's character span in its document
    end: int
    score: float  # retrieval score of the chunk
    source: str = ""
    heading_path: tuple[str, ...] = ()
    quotes: tuple[tuple[int, int], ...] = ()  # spans of quoted sentences in the document, for highlighting

    @classmethod
    def from_hit(cls, n: int, hit: Hit, quotes: tuple[tuple[int, int], ...] = ()) -> Citation:
        return cls(n, hit.doc_id, hit.chunk_id, hit.title, hit.text, hit.start, hit.end, hit.score,
                   public_source(hit.source), hit.heading_path, quotes)


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    confidence: float
    citations: list[Citation]
    timings_ms: dict[str, float] = field(default_factory=dict)
    generator: str = "extractive"
    threshold: float = 0.0  # the confidence below which the fallback policy applied
    fallback: dict[str, str] | None = None  # {"from": generator, "reason": why} when another generator answered
    warning: str | None = None  # e.g. answered below the confidence threshold (policy "warn")
    removed: list[dict[str, str]] = field(default_factory=list)  # what verification and output filtering removed
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # what feedback refers to
    index_version: str = ""  # the version whose chunks it was drawn from
    qa: dict | None = None  # the QA model's verdict: answerability, the source it read best, its span
    confidence_breakdown: dict | None = None  # the confidence's logit by part (base, retrieval, qa_model, question)
    retrieval: Any = field(default=None, repr=False, compare=False)  # the first search (for the query log)
    searched: dict | None = None  # what was searched for the question (retrieve/conversation.py Searched.to_dict)
    outcome: str = ""  # "clarify" for a question back (answer/clarify.py); else answer or abstain, by `abstained`

    def documents(self) -> list[dict[str, Any]]:
        """Each cited document once, in order of first citation, with its citations' numbers and chunk ids: what a
        face lists as the answer's sources (two chunks of one document are one source)."""
        found: dict[str, dict[str, Any]] = {}
        for c in self.citations:
            doc = found.setdefault(c.doc_id, {"doc_id": c.doc_id, "title": c.title, "source": c.source,
                                              "citations": [], "chunk_ids": []})
            doc["citations"].append(c.n)
            doc["chunk_ids"].append(c.chunk_id)
        return list(found.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, retrieval=None))
        del d["retrieval"]
        d["outcome"] = self.outcome or ("abstain" if self.abstained else "answer")
        for c in d["citations"]:
            c["heading_path"] = list(c["heading_path"])
            c["quotes"] = [list(q) for q in c["quotes"]]
        d["documents"] = self.documents()
        return d


class Generator(Protocol):
    """An LLM that drafts an answer from numbered sources; the answerer verifies every sentence it returns."""

    name: str

    def draft(self, question: str, hits: list[Hit]) -> str:
        """The answer text with [n] citations of `hits` (1-based), or NOT FOUND."""

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str]:
        """The same text, in pieces as they are generated."""
