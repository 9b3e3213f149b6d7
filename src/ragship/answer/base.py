"""The Generator protocol and the answer types every generator returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ragship.types import Hit


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
        return cls(n, hit.doc_id, hit.chunk_id, hit.title, hit.text, hit.start, hit.end, hit.score, hit.source,
                   hit.heading_path, quotes)


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    confidence: float
    citations: list[Citation]
    timings_ms: dict[str, float] = field(default_factory=dict)
    generator: str = "extractive"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for c in d["citations"]:
            c["heading_path"] = list(c["heading_path"])
            c["quotes"] = [list(q) for q in c["quotes"]]
        return d


class Generator(Protocol):
    name: str

    def generate(self, question: str, hits: list[Hit]) -> Answer:
        """An answer whose every claim cites one of `hits`, or an abstention naming the closest hits."""
