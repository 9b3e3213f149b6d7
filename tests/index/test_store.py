"""ChunkStore against a real LanceDB: tagged versions are immutable views; the head can be rolled back."""

import numpy as np
import pytest

from ragship.index.store import ChunkStore


def row(chunk_id, doc_id, text, vec):
    return {"chunk_id": chunk_id, "doc_id": doc_id, "doc_hash": "h", "source": "s", "title": "", "text": text,
            "index_text": text, "start": 0, "end": len(text), "heading_path": [], "metadata": "{}",
            "vector": np.asarray(vec, dtype=np.float32)}


def test_tags_freeze_versions_and_reset_head_discards_writes(tmp_path):
    store = ChunkStore(tmp_path)
    store.add([row("a#0", "a", "red apples", [1, 0]), row("b#0", "b", "green pears", [0, 1])], dim=2)
    store.build_fts()
    v1 = store.commit_tag("v1")
    store.delete_docs(["a"])
    store.add([row("c#0", "c", "o'brien's red plums", [1, 1])], dim=2)
    assert store.table().count_rows() == 2
    view = store.view("v1")
    assert view.count_docs() == 2 and [r["doc_id"] for r in view.bm25("red", 5)] == ["a"]
    assert view.dense(np.array([1, 0], dtype=np.float32), 1)[0]["chunk_id"] == "a#0"
    store.reset_head(v1)
    assert sorted(store.doc_states(store.table().version)) == ["a", "b"]


def test_ids_with_quotes_are_escaped(tmp_path):
    store = ChunkStore(tmp_path)
    store.add([row("it's#0", "it's", "quoted id", [1, 0])], dim=2)
    store.delete_docs(["it's"])
    assert store.table().count_rows() == 0


def test_reset_head_without_a_live_version_empties_the_table(tmp_path):
    store = ChunkStore(tmp_path)
    store.add([row("a#0", "a", "x", [1, 0])], dim=2)
    store.reset_head(None)
    assert store.table().count_rows() == 0


def test_vector_index_is_built_past_the_threshold_and_agrees_with_exact_search(tmp_path, cache_dir):
    from conftest import DATA, make_engine

    exact = make_engine(tmp_path / "flat", cache_dir)
    exact.ingest([DATA / "docs"])
    indexed = make_engine(tmp_path / "ann", cache_dir, search={"ann_min_rows": 10})
    indexed.ingest([DATA / "docs"])
    def vector_indexes(engine):
        return [i for i in engine.store().table().list_indices() if "vector" in i.columns]

    assert vector_indexes(indexed) and not vector_indexes(exact)
    for q in ("night trams", "lost property office", "ferry timetable"):
        a = [h.chunk_id for h in exact.search(q, "dense", 5).hits]
        b = [h.chunk_id for h in indexed.search(q, "dense", 5).hits]
        assert a == b
        hybrid = indexed.search(q, "hybrid", 5)  # BM25 overlapped with the vector search here (retrieve/search.py)
        assert [h.chunk_id for h in hybrid.hits] == [h.chunk_id for h in exact.search(q, "hybrid", 5).hits]
        assert {"bm25", "dense", "embed"} <= set(hybrid.timings_ms)


def test_in_memory_dense_search_is_exact_with_and_without_a_mask(tmp_path):
    """Below the ANN threshold dense search runs in memory: its top results must be exact cosine order, also
    when a mask leaves only the least similar rows."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(5000, 32)).astype(np.float32)
    store = ChunkStore(tmp_path)
    store.add([row(f"c{i}#0", f"c{i}", f"text {i}", v) for i, v in enumerate(vectors)], dim=32)
    store.build_fts()
    store.commit_tag("v1")
    view = store.view("v1")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = view.memory.chunk_ids
    for q in rng.normal(size=(20, 32)).astype(np.float32):
        exact = np.argsort(-(unit @ (q / np.linalg.norm(q))))
        assert [r["chunk_id"] for r in view.dense(q, 50)] == [ids[i] for i in exact[:50]]
        mask = np.zeros(len(ids), dtype=bool)
        mask[exact[-7:]] = True  # the 7 least similar rows only: outside any pre-selection
        got = view.dense(q, 50, mask=mask)
        assert [r["chunk_id"] for r in got] == [ids[i] for i in exact[-7:]]


def test_an_index_from_before_permissions_is_refused_clearly(tmp_path):
    import lancedb
    import pyarrow as pa
    import pytest

    from ragship.errors import IndexNotReady
    from ragship.index.store import schema

    old = pa.schema([f for f in schema(2) if f.name not in ("groups", "tags")])
    lancedb.connect(str(tmp_path)).create_table("chunks", schema=old)
    store = ChunkStore(tmp_path)
    for call in (lambda: store.add([row("a#0", "a", "x", [1, 0])], dim=2), lambda: store.view("v1")):
        with pytest.raises(IndexNotReady, match="older ragship .*ingest again"):
            call()


def test_bm25_and_ann_ids_come_from_memory_by_row_id_after_deletes_and_compaction(tmp_path):
    """Retrievers select only scores and LanceDB row ids; the ids shown come from the view's memory. They must
    be the rows LanceDB itself names, also once deletions and compaction have moved rows around."""
    rng = np.random.default_rng(5)
    words = ["alpha", "beta", "gamma", "delta", "omega"]
    store = ChunkStore(tmp_path)
    for batch in range(3):  # three fragments
        store.add([row(f"d{batch}-{i}#0", f"d{batch}-{i}", " ".join(rng.choice(words, 6)), rng.normal(size=8))
                   for i in range(300)], dim=8)
    store.delete_docs([f"d1-{i}" for i in range(0, 300, 3)])
    store.table().optimize()
    store.build_fts()
    store.build_vector_index(min_rows=1)
    store.commit_tag("v1")
    view = store.view("v1")
    from lancedb.query import MatchQuery

    for word in words:
        got = [(r["chunk_id"], r["_score"]) for r in view.bm25(word, 40)]
        t = view._table.search(MatchQuery(word, "index_text"), query_type="fts").select(["chunk_id", "_score"]) \
            .limit(40).to_arrow()
        assert got == list(zip(t["chunk_id"].to_pylist(), t["_score"].to_pylist()))
    q = rng.normal(size=8).astype(np.float32)
    t = view._table.search(q, vector_column_name="vector").distance_type("cosine").nprobes(view.nprobes) \
        .refine_factor(view.refine_factor).select(["chunk_id"]).limit(20).to_arrow()
    assert [r["chunk_id"] for r in view.dense(q, 20)] == t["chunk_id"].to_pylist()
    assert all(r["doc_id"] == r["chunk_id"].split("#")[0] for r in view.dense(q, 20))


def test_warm_loads_the_versions_indexes_before_any_query(tmp_path):
    rng = np.random.default_rng(7)
    store = ChunkStore(tmp_path)
    store.add([row(f"d{i}#0", f"d{i}", " ".join(rng.choice(["alpha", "beta", "gamma"], 5)), rng.normal(size=8))
               for i in range(600)], dim=8)
    store.build_fts()
    store.build_vector_index(min_rows=1)
    store.commit_tag("v1")
    cold, warm = store.view("v1"), store.view("v1")
    before = warm.resident_bytes()  # the manifest's and index metadata's bytes
    warm.warm()
    assert warm.resident_bytes() > before + 8 * 600 + 2 * 8 * 600  # the quantised codes, the row positions
    q = rng.normal(size=8).astype(np.float32)
    assert warm.dense(q, 10) == cold.dense(q, 10) and warm.bm25("beta", 10) == cold.bm25("beta", 10)


def test_weighted_bm25_scores_the_weighted_sum_of_each_text(tmp_path):
    store = ChunkStore(tmp_path)
    store.add([row("a#0", "a", "olympic boycott of moscow", [1, 0]),
               row("b#0", "b", "the boycott ended in 1984", [0, 1]),
               row("c#0", "c", "american football season", [1, 1])], dim=2)
    store.build_fts()
    store.commit_tag("v1")
    view = store.view("v1")
    alone = {r["chunk_id"]: r["_score"] for r in view.bm25("when did it end", 10)}
    context = {r["chunk_id"]: r["_score"] for r in view.bm25("olympic boycott", 10)}
    both = {r["chunk_id"]: r["_score"] for r in view.bm25([("when did it end", 1.0), ("olympic boycott", 0.5)], 10)}
    assert set(both) == set(alone) | set(context)
    for chunk in both:
        assert both[chunk] == pytest.approx(alone.get(chunk, 0) + 0.5 * context.get(chunk, 0), rel=1e-5)
    assert [r["chunk_id"] for r in view.bm25("when did it end", 10)] == ["b#0"]  # the context adds a#0 only
