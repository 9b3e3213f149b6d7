import re
from pathlib import Path

import pytest

from ragship.ingest.chunking import chunk_document, sections
from ragship.ingest.parsers import parse_markdown
from ragship.types import Document

DATA = Path(__file__).parents[1] / "data"


class WordTokenizer:
    """Deterministic stand-in behind the Tokenizer protocol: one token per word or punctuation mark."""

    def token_spans(self, text):
        return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]


@pytest.fixture(scope="module")
def real_tokenizer():
    from ragship.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


def doc(text, headings=()):
    return Document("d", text, headings=tuple(headings))


def tokens(text):
    return len(WordTokenizer().token_spans(text))


def test_chunks_are_exact_slices_within_the_size_limit():
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = chunk_document(doc(text), WordTokenizer(), size=40, overlap=8)
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert tokens(c.text) <= 40
    assert [c.chunk_id for c in chunks] == [f"d#{i}" for i in range(len(chunks))]


def test_overlap_repeats_whole_trailing_sentences():
    text = " ".join(f"Sentence number {i} is here." for i in range(50))
    chunks = chunk_document(doc(text), WordTokenizer(), size=30, overlap=8)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end  # overlap
        assert text[b.start:a.end].startswith("Sentence number")
        assert tokens(text[b.start:a.end]) <= 8


def test_no_overlap_when_disabled_and_everything_covered():
    text = " ".join(f"Sentence number {i} is here." for i in range(50))
    chunks = chunk_document(doc(text), WordTokenizer(), size=30, overlap=0)
    assert all(b.start >= a.end for a, b in zip(chunks, chunks[1:]))
    assert "".join(c.text + " " for c in chunks).split() == text.split()


def test_prefers_paragraph_boundaries():
    para = "Alpha beta gamma delta. " * 4  # 20 tokens
    text = "\n\n".join(para.strip() for _ in range(4))
    chunks = chunk_document(doc(text), WordTokenizer(), size=50, overlap=0)
    assert [c.text.count("\n\n") for c in chunks] == [1, 1]  # two paragraphs each, never split mid-paragraph


def test_over_long_sentence_is_split_into_token_windows():
    text = " ".join(["word"] * 95)
    chunks = chunk_document(doc(text), WordTokenizer(), size=40, overlap=0)
    assert [tokens(c.text) for c in chunks] == [40, 40, 15]


def test_chunks_never_cross_headings_and_carry_heading_paths():
    path = DATA / "docs/handbook/trams.md"
    parsed = parse_markdown(path.read_bytes(), path)
    d = Document("trams", parsed.text, headings=parsed.headings)
    chunks = chunk_document(d, WordTokenizer(), size=400, overlap=0)
    assert [c.heading_path for c in chunks] == [
        ("Varnholt Tram Handbook",),
        ("Varnholt Tram Handbook", "Lines"),
        ("Varnholt Tram Handbook", "Night service"),
        ("Varnholt Tram Handbook", "Night service", "Accessibility"),
        ("Varnholt Tram Handbook", "Fares"),
    ]
    assert chunks[3].text.startswith("### Accessibility")


def test_sections_cover_text_before_the_first_heading():
    d = doc("intro text\n# H\nbody", [(11, 1, "H")])
    assert list(sections(d)) == [(0, 11, ()), (11, 19, ("H",))]


def test_real_tokenizer_limit_holds(real_tokenizer):
    path = DATA / "docs/handbook/trams.md"
    parsed = parse_markdown(path.read_bytes(), path)
    d = Document("trams", parsed.text, headings=parsed.headings)
    chunks = chunk_document(d, real_tokenizer, size=24, overlap=6)
    assert len(chunks) > 6
    for c in chunks:
        assert parsed.text[c.start:c.end] == c.text
        assert len(real_tokenizer.token_spans(c.text)) <= 24


def test_fixed_windows_ignore_structure_and_overlap_exactly():
    text = "\n\n".join(" ".join(f"w{p}_{i}" for i in range(10)) for p in range(5))  # 5 paragraphs x 10 words
    d = doc(text, [(0, 1, "Top")])
    chunks = chunk_document(d, WordTokenizer(), size=16, overlap=4, strategy="fixed")
    spans = WordTokenizer().token_spans(text)
    assert [len(WordTokenizer().token_spans(c.text)) for c in chunks][:-1] == [16] * (len(chunks) - 1)
    assert chunks[1].start == spans[12][0]  # stride = size - overlap
    assert chunks[-1].end == len(text)
    assert all(c.heading_path == ("Top",) for c in chunks)


def test_recursive_crosses_headings_but_keeps_the_path_of_its_start():
    path = DATA / "docs/handbook/trams.md"
    parsed = parse_markdown(path.read_bytes(), path)
    d = Document("trams", parsed.text, headings=parsed.headings)
    heading = chunk_document(d, WordTokenizer(), size=400, overlap=0, strategy="heading")
    recursive = chunk_document(d, WordTokenizer(), size=400, overlap=0, strategy="recursive")
    assert len(recursive) < len(heading)
    assert recursive[0].heading_path == ("Varnholt Tram Handbook",)
    for c in recursive:
        assert parsed.text[c.start:c.end] == c.text


def test_unknown_strategy():
    with pytest.raises(ValueError, match="chunk strategy must be one of heading, recursive, fixed"):
        chunk_document(doc("x"), WordTokenizer(), 10, 0, "semantic")
