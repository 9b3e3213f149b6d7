"""Small shared value types that travel along the data's path. They import nothing from ragship."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

SearchMode = Literal["dense", "bm25", "hybrid"]
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)


@dataclass(frozen=True)
class Document:
    """One parsed source document. Chunk offsets refer to `text`."""

    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    content_hash: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()  # who may read it (document-level permissions); empty = everyone
    # (char offset, heading level, heading text) for headings found by the parser; drives heading paths.
    headings: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...] = ()

    def index_text(self, title: str) -> str:
        """What is embedded and BM25-indexed: the chunk with its title and headings as context."""
        context = " > ".join(p for p in (title, *self.heading_path) if p)
        return f"{context}\n{self.text}" if context else self.text


@dataclass(frozen=True)
class Failure:
    """A file or record that could not be ingested, and why."""

    path: str
    reason: str
    doc_id: str = ""  # set when the failing file maps to a known document id (its old version is kept)


@dataclass(frozen=True)
class Partial:
    """A source read only in part (a crawl stopped at its page limit, a folder it could not enter): documents of
    it that this run did not reach are kept, never deleted."""

    source: str
    reason: str


@dataclass(frozen=True)
class Hit:
    """One search result: a chunk, where it comes from, and how it ranked."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    source: str
    start: int
    end: int
    heading_path: tuple[str, ...]
    score: float
    rank: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": self.score,
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "text": self.text,
            "source": public_source(self.source),
            "start": self.start,
            "end": self.end,
            "heading_path": list(self.heading_path),
            "metadata": public_metadata(self.metadata),
        }


def public_source(source: str) -> str:
    """What a reader is shown of where a document came from: a URL without its credentials, or the name of the
    folder or file the user ingested (the first part of its document ids), never the server's path to it."""
    if "://" in source:
        return re.sub(r"(://)[^/@]*@", r"\1", source)
    return source.rstrip("/").rsplit("/", 1)[-1]


def public_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A document's metadata without the server's path to its file."""
    return {k: v for k, v in metadata.items() if k != "path"}


@dataclass(frozen=True)
class AbstainTarget:
    """The answer calibration's operating point (`answer.abstain_target`): `rate` at least `value`, the rate one of
    precision (the share of abstentions that are unanswerable), abstain (of unanswerable questions abstained on) or
    answer (of answerable questions answered)."""

    rate: str
    value: float

    RATES = ("precision", "abstain", "answer")

    @classmethod
    def parse(cls, text: str) -> AbstainTarget:
        m = re.fullmatch(r"\s*(precision|abstain|answer)\s*>=\s*(\d*\.?\d+)\s*(%?)\s*", text)
        value = float(m[2]) / (100 if m[3] else 1) if m else 0.0
        if m is None or not 0.0 < value <= 1.0:
            raise ValueError(f"{text!r} is not an operating point: write RATE >= VALUE, RATE one of "
                             f"{', '.join(cls.RATES)} and VALUE in (0, 1] or a percentage, e.g. \"abstain >= 0.8\"")
        return cls(m[1], value)

    def __str__(self) -> str:
        return f"{self.rate} >= {self.value:g}"

    def describe(self) -> str:
        return {"precision": f"abstentions >= {self.value:.0%} truly unanswerable",
                "abstain": f"abstains on >= {self.value:.0%} of unanswerable questions",
                "answer": f"answers >= {self.value:.0%} of answerable questions"}[self.rate]
