"""Property-based tests (Hypothesis) of what ingest takes from the outside: any text chunks into exact slices
that cover every token, each within its size and overlapping the previous only by the overlap; any bytes given
to any parser yield a document or one of our errors, never another exception."""

import re
from pathlib import Path

from hypothesis import strategies as st
from hypothesis_profiles import both_sizes

from ragship.errors import RagshipError
from ragship.ingest.chunking import STRATEGIES, chunk_document
from ragship.ingest.parsers import PARSERS, parse_file
from ragship.types import Document


class Words:
    """A tokenizer by regex (the chunker's contract is the Protocol, not the model's vocabulary)."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]


WORD = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
SENTENCE = st.lists(WORD, min_size=1, max_size=30).map(" ".join).map(lambda s: s + ".")
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=6).map(" ".join)


@st.composite
def documents(draw):
    paragraphs = draw(st.lists(PARAGRAPH, min_size=1, max_size=8))
    text = draw(st.sampled_from(["\n\n", "\n", "\n\n\n"])).join(paragraphs)
    starts = [0] + [m.end() for m in re.finditer(r"\n+", text)]  # headings start lines, as parsers make them
    offsets = sorted(draw(st.lists(st.sampled_from(starts), max_size=4, unique=True)))
    headings = tuple((o, draw(st.integers(1, 3)), f"H{i}") for i, o in enumerate(offsets))
    return Document("doc", text, "src", "T", headings=headings)


def chunks_map_back_and_cover_everything(doc, size, overlap, strategy):
    """Offsets map back; every token is in a chunk; a chunk holds <= size tokens; overlap stays bounded."""
    overlap = min(overlap, size - 1)
    chunks = chunk_document(doc, Words(), size, overlap, strategy)
    tokens = Words().token_spans(doc.text)
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text and c.text.strip()
        assert sum(c.start <= s and e <= c.end for s, e in tokens) <= size
    for s, e in tokens:
        assert any(c.start <= s and e <= c.end for c in chunks), (s, e, doc, size, overlap, strategy)
    for a, b in zip(chunks, chunks[1:]):
        assert a.start <= b.start
        shared = sum(b.start <= s and e <= a.end for s, e in tokens)
        assert shared <= overlap, (shared, overlap)


test_chunks_map_back, test_chunks_map_back_long = both_sizes(
    chunks_map_back_and_cover_everything, doc=documents(), size=st.integers(2, 64), overlap=st.integers(0, 16),
    strategy=st.sampled_from(STRATEGIES))


def parsers_raise_only_our_errors(data, suffix):
    """Arbitrary bytes (and mutated real headers) under any supported extension."""
    try:
        parsed = parse_file(data, Path(f"fuzzed{suffix}"))
    except RagshipError:
        return
    assert isinstance(parsed.text, str) and parsed.text.strip()


HEADERS = st.sampled_from([b"", b"%PDF-1.4\n", b"PK\x03\x04", b"<html>", b"{", b"# ", b"\xef\xbb\xbf"])
test_parsers_raise_only_our_errors, test_parsers_raise_only_our_errors_long = both_sizes(
    parsers_raise_only_our_errors, data=st.builds(lambda h, b: h + b, HEADERS, st.binary(max_size=2048)),
    suffix=st.sampled_from(sorted(PARSERS)))
