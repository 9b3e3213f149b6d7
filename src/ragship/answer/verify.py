"""Check a generated answer against the sources it cites, sentence by sentence.

A sentence is kept when it cites at least one retrieved source and its support by the best cited source reaches
`min_support`. Support = 0.5 × the best cosine between the sentence and one of the source's sentences + 0.5 × the
share of the sentence's content words found in the source. Instruction-like source sentences (see safety.py) do
not count as support, so a model that obeyed an injection is not "supported" by the injection. Everything removed
is reported with its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ragship.answer.prompt import NOT_FOUND
from ragship.answer.safety import filter_output, is_instruction, visible
from ragship.answer.support import CLAIM_SEMANTIC_WEIGHT, support
from ragship.embed.base import Embedder
from ragship.text import content_terms, paragraph_spans, sentence_spans
from ragship.types import Hit

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# "claim. [1] Next" -> "claim [1]. Next": a marker after the full stop belongs to the sentence before it
_TRAILING_MARKERS = re.compile(r"([.!?])((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)")


@dataclass
class Verified:
    sentences: list[tuple[str, list[int]]] = field(default_factory=list)  # kept text (no markers), cited numbers
    quotes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # n -> supporting spans in the source
    removed: list[dict] = field(default_factory=list)  # {"text", "reason"}
    not_found: bool = False  # the model said the sources do not answer

    @property
    def text(self) -> str:
        return " ".join(f"{s} " + "".join(f"[{n}]" for n in ns) for s, ns in self.sentences)


class SourceSentences:
    """The sentences of each source that may support a claim (instruction-like ones left out)."""

    def __init__(self, hits: list[Hit], embedder: Embedder):
        self.hits = hits
        self.spans: list[list[tuple[int, int]]] = []
        self.texts: list[list[str]] = []
        for h in hits:
            text = visible(h.text)  # spans index the visible text; they map back when no char was hidden
            spans = [(s, e) for s, e in sentence_spans(text) if not is_instruction(text[s:e])]
            self.spans.append(spans)
            self.texts.append([text[s:e] for s, e in spans])
        flat = [t for texts in self.texts for t in texts]
        vectors = embedder.embed_batch(flat) if flat else np.zeros((0, 1), dtype=np.float32)
        self.vectors, pos = [], 0
        for texts in self.texts:
            self.vectors.append(vectors[pos:pos + len(texts)])
            pos += len(texts)
        self.terms = [content_terms(" ".join(texts)) for texts in self.texts]


def split_complete(buffer: str) -> tuple[list[str], str]:
    """For streaming: the sentences of `buffer` that are certainly complete (the next one has begun, and no
    citation marker may still be arriving for them), and the rest to keep buffering."""
    text = _TRAILING_MARKERS.sub(lambda m: m.group(2) + m.group(1), buffer)
    spans = [span for p_start, p_end in paragraph_spans(text) for span in sentence_spans(text, p_start, p_end)]
    while spans and text[spans[-1][0]:].lstrip().startswith("["):
        spans.pop()  # a marker that may belong to the sentence before it
    if len(spans) < 2:
        return [], text
    cut = spans[-1][0]
    return [text[s:e] for s, e in spans[:-1]], text[cut:]


def verify(draft: str, hits: list[Hit], embedder: Embedder, min_support: float, unsupported: str = "drop",
           allowed_hosts: tuple[str, ...] = (), sources: SourceSentences | None = None) -> Verified:
    """`sources` may be passed in when several drafts are checked against the same hits (streaming)."""
    out = Verified()
    text, removed = filter_output(draft.strip(), allowed_hosts)
    out.removed += [{"text": r, "reason": "link or image outside the allow-list, or active HTML"} for r in removed]
    if text.strip().rstrip(".").upper() == NOT_FOUND:
        out.not_found = True
        return out
    text = _TRAILING_MARKERS.sub(lambda m: m.group(2) + m.group(1), text)
    claims = [span for p_start, p_end in paragraph_spans(text) for span in sentence_spans(text, p_start, p_end)]
    if not claims:
        return out
    sources = sources or SourceSentences(hits, embedder)
    bare = [_MARKER.sub("", text[s:e]).strip() for s, e in claims]
    vectors = embedder.embed_batch([b or "-" for b in bare])
    for (s, e), sentence, vector in zip(claims, bare, vectors):
        cited = [int(n) for m in _MARKER.finditer(text[s:e]) for n in re.split(r"[,;]", m.group(1))]
        unknown = sorted({n for n in cited if not 1 <= n <= len(hits)})
        if unknown:
            out.removed.append({"text": f"[{', '.join(map(str, unknown))}]",
                                "reason": f"cites source(s) {unknown} that were not retrieved"})
        cited = sorted({n for n in cited if 1 <= n <= len(hits)})
        if not sentence:
            continue
        reason = _rejection(sentence, vector, cited, sources, out, min_support)
        if reason is None or unsupported == "flag":
            if reason:
                out.removed.append({"text": sentence, "reason": f"flagged, kept: {reason}"})
                sentence = f"{sentence} (unverified)"
            out.sentences.append((sentence, cited))
        else:
            out.removed.append({"text": sentence, "reason": reason})
    return out


def _rejection(sentence: str, vector: np.ndarray, cited: list[int], sources: SourceSentences, out: Verified,
               min_support: float) -> str | None:
    """Why the sentence cannot stay, or None (recording which source sentence supports it)."""
    if is_instruction(sentence):
        return "instruction-like text"
    if not cited:
        return "cites no retrieved source"
    terms = content_terms(sentence)
    best = (0.0, 0, -1)
    for n in cited:
        sims = sources.vectors[n - 1] @ vector if len(sources.vectors[n - 1]) else np.zeros(0)
        semantic = float(sims.max()) if len(sims) else 0.0
        lexical = len(terms & sources.terms[n - 1]) / len(terms) if terms else 0.0
        score = support(semantic, lexical, CLAIM_SEMANTIC_WEIGHT)
        if score > best[0]:
            best = (score, n, int(sims.argmax()) if len(sims) else -1)
    score, n, i = best
    if score < min_support:
        return f"not supported by its cited source(s) {cited} (support {score:.2f} < {min_support})"
    if i >= 0:
        h, (s, e) = sources.hits[n - 1], sources.spans[n - 1][i]
        out.quotes.setdefault(n, []).append((h.start + s, h.start + e))
    return None
