"""Token-aware chunking with the embedder's own tokenizer. Every chunk is an exact slice of the document text
(`text[start:end]`), holds at most `size` tokens, and carries the heading path it starts under.

Strategies:
- heading (default): chunks never cross a heading; inside a section, as `recursive`.
- recursive: paragraphs, then sentences, then token windows; a chunk ends at a paragraph boundary once half
  full, and repeats up to `overlap` tokens of whole sentences from the chunk before (within a paragraph).
- fixed: windows of `size` tokens stepping by `size - overlap`, blind to structure.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Iterator, Protocol

from ragship.text import paragraph_spans, sentence_spans
from ragship.types import Chunk, Document


class Tokenizer(Protocol):
    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of every token of text, in order, without special tokens."""


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a token window of an over-long one): the smallest piece chunks are built from."""

    start: int
    end: int
    tokens: int
    paragraph: int


def sections(doc: Document) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """(start, end, heading path) of each heading-delimited section of the document."""
    stack: list[tuple[int, str]] = []
    path: tuple[str, ...] = ()  # the headings above `start`
    start = 0
    for offset, level, heading in sorted(doc.headings):
        if offset > start:
            yield start, offset, path
        stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, heading)]
        start, path = offset, tuple(h for _, h in stack)
    if start < len(doc.text) or not doc.headings:
        yield start, len(doc.text), path


STRATEGIES = ("heading", "recursive", "fixed")


def chunk_document(doc: Document, tokenizer: Tokenizer, size: int, overlap: int,
                   strategy: str = "heading") -> list[Chunk]:
    spans = tokenizer.token_spans(doc.text)
    starts = [s for s, _ in spans]
    if strategy == "heading":
        pieces = [(start, end, path) for sec_start, sec_end, path in sections(doc)
                  for start, end in _pack(list(_units(doc.text, sec_start, sec_end, spans, starts, size)), size,
                                          overlap)]
    else:
        if strategy == "recursive":
            windows = _pack(list(_units(doc.text, 0, len(doc.text), spans, starts, size)), size, overlap)
        elif strategy == "fixed":
            windows = _windows(spans, size, overlap)
        else:
            raise ValueError(f"chunk strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
        section_list = list(sections(doc))
        section_starts = [s for s, _, _ in section_list]
        pieces = [(start, end, section_list[max(0, bisect_left(section_starts, start + 1) - 1)][2])
                  for start, end in windows]
    return [Chunk(f"{doc.doc_id}#{i}", doc.doc_id, doc.text[start:end], start, end, path)
            for i, (start, end, path) in enumerate(pieces)]


def _windows(spans: list[tuple[int, int]], size: int, overlap: int) -> Iterator[tuple[int, int]]:
    step = size - overlap
    for first in range(0, len(spans), step):
        last = min(first + size, len(spans))
        yield spans[first][0], spans[last - 1][1]
        if last == len(spans):
            return


def _units(text, sec_start, sec_end, spans, starts, size) -> Iterator[_Unit]:
    for p, (p_start, p_end) in enumerate(paragraph_spans(text, sec_start, sec_end)):
        for s_start, s_end in sentence_spans(text, p_start, p_end):
            first, last = bisect_left(starts, s_start), bisect_left(starts, s_end)
            if last - first <= size:
                yield _Unit(s_start, s_end, last - first, p)
                continue
            for w in range(first, last, size):  # an over-long sentence: consecutive windows of `size` tokens
                w_end = min(w + size, last)
                start = s_start if w == first else spans[w][0]
                end = s_end if w_end == last else spans[w_end - 1][1]
                yield _Unit(start, end, w_end - w, p)


def _pack(units: list[_Unit], size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Greedy packing. A new paragraph that would not fit starts a new chunk once the current one is half full,
    so chunks end at paragraph boundaries where they can."""
    paragraph_tokens: dict[int, int] = {}
    for u in units:
        paragraph_tokens[u.paragraph] = paragraph_tokens.get(u.paragraph, 0) + u.tokens
    current: list[_Unit] = []
    total = 0
    for u in units:
        new_paragraph = bool(current) and u.paragraph != current[-1].paragraph
        full = total + u.tokens > size
        prefer_break = new_paragraph and total >= size // 2 and total + paragraph_tokens[u.paragraph] > size
        if current and (full or prefer_break):
            yield current[0].start, current[-1].end
            current = _tail(current, overlap) if not new_paragraph else []
            total = sum(c.tokens for c in current)
            while current and total + u.tokens > size:
                total -= current.pop(0).tokens
        current.append(u)
        total += u.tokens
    if current:
        yield current[0].start, current[-1].end


def _tail(units: list[_Unit], overlap: int) -> list[_Unit]:
    """The last whole units of a chunk holding at most `overlap` tokens (never the whole chunk)."""
    tail: list[_Unit] = []
    total = 0
    for u in reversed(units[1:]):
        if total + u.tokens > overlap:
            break
        tail.insert(0, u)
        total += u.tokens
    return tail
