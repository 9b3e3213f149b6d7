import pytest

from ragship.errors import QueryError


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_night_tram(docs_engine, mode):
    result = docs_engine.search("When does the Lantern night tram run?", mode, 3)
    top = result.hits[0]
    assert top.doc_id == "docs/handbook/trams.md" and "Lantern" in top.text
    assert top.heading_path[-1] in ("Night service", "Accessibility")
    assert [h.rank for h in result.hits] == [1, 2, 3]
    assert result.hits[0].score >= result.hits[-1].score


def test_hits_point_into_the_source_text(docs_engine):
    from pathlib import Path

    for h in docs_engine.search("tram fares weekly pass", "hybrid", 5).hits:
        if h.doc_id.endswith((".md", ".txt")):
            assert Path(h.metadata["path"]).read_text()[h.start:h.end] == h.text


def test_dense_finds_paraphrases_bm25_cannot(docs_engine):
    query = "boat across the bay"  # ferries.pdf says "harbour ferry crosses"
    assert docs_engine.search(query, "dense", 1).hits[0].doc_id == "docs/ferries.pdf"
    assert "docs/ferries.pdf" not in [h.doc_id for h in docs_engine.search(query, "bm25", 10).hits]


def test_bm25_tolerates_query_syntax_characters(docs_engine):
    hits = docs_engine.search('"Kettle Square" AND (depot: OR tours)~', "bm25", 3).hits
    assert hits and hits[0].doc_id == "docs/handbook/depot.html"


@pytest.mark.parametrize("query, mode, k, message", [
    ("  ", None, None, "query is empty"),
    ("x" * 2001, None, None, "limit is 2000"),
    ("tram", "fuzzy", None, "mode must be one of"),
    ("tram", None, 0, "k must be between 1 and 1000"),
])
def test_bad_queries_are_rejected_clearly(docs_engine, query, mode, k, message):
    with pytest.raises(QueryError, match=message):
        docs_engine.search(query, mode, k)
