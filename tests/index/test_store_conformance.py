"""The index store's contract (like Haystack's `testing/document_store.py`): what every location a ChunkStore
can live in must do, run on each one: a local folder and an S3 bucket (moto's server). Versions are immutable
once tagged, the head can be rolled back, searches and reads agree, retention keeps what is tagged, and an intact
version's files check out."""

import numpy as np
import pytest

from ragship.index.store import ChunkStore

TEXTS = {"a": "red apples from the orchard", "b": "green pears in autumn", "c": "ripe red plums"}
VECTORS = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.7, 0.0, 0.7]}


def row(doc_id: str, text: str | None = None) -> dict:
    text = text or TEXTS[doc_id]
    return {"chunk_id": f"{doc_id}#0", "doc_id": doc_id, "doc_hash": f"h-{doc_id}", "source": f"{doc_id}.txt",
            "title": doc_id.upper(), "text": text, "index_text": text, "start": 0, "end": len(text),
            "heading_path": [], "metadata": "{}", "vector": np.asarray(VECTORS[doc_id], dtype=np.float32)}


def near(doc_id: str) -> np.ndarray:
    return np.asarray(VECTORS[doc_id], dtype=np.float32)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ChunkStore:
    if request.param == "local":
        return ChunkStore(tmp_path / "lance")
    bucket = request.getfixturevalue("s3_bucket")
    return ChunkStore(f"s3://{bucket}/index")


def tagged(store: ChunkStore, tag: str, *doc_ids: str) -> int:
    """The head holding exactly `doc_ids`, tagged `tag` (with its full-text index)."""
    if store.exists():
        store.delete_docs([d for d in TEXTS if d not in doc_ids])
    held = set(store.doc_states(store.head_version()))
    store.add([row(d) for d in doc_ids if d not in held], dim=3)
    store.build_fts()
    return store.commit_tag(tag)


def test_a_tagged_version_never_changes_when_the_head_does(store):
    assert not store.exists()
    tagged(store, "v1", "a", "b")
    tagged(store, "v2", "b", "c")
    v1, v2 = store.view("v1"), store.view("v2")
    assert (v1.count_docs(), v2.count_docs()) == (2, 2)
    assert {d["doc_id"] for d in v1.documents()} == {"a", "b"} and {d["doc_id"] for d in v2.documents()} == {"b", "c"}
    assert set(store.tags()) == {"v1", "v2"} and store.tags()["v1"] < store.tags()["v2"]


def test_searches_find_by_words_and_by_vector_and_honour_a_where(store):
    tagged(store, "v1", "a", "b", "c")
    view = store.view("v1")
    assert {r["doc_id"] for r in view.bm25("red", 5)} == {"a", "c"}  # stemming, stop words: the analyzer's own
    assert view.bm25("orchards", 5)[0]["doc_id"] == "a"
    assert [r["doc_id"] for r in view.dense(near("b"), 1)] == ["b"]
    assert [r["doc_id"] for r in view.bm25("red", 5, where="doc_id = 'c'")] == ["c"]
    assert view.holds("a") and not view.holds("a", "doc_id = 'b'") and not view.holds("zzz")


def test_reads_return_what_was_written(store):
    tagged(store, "v1", "a", "b")
    view = store.view("v1")
    assert view.document("a")["text"] == TEXTS["a"] and view.document("zzz") is None
    [chunk] = view.chunks(["b#0"])
    assert chunk["text"] == TEXTS["b"] and chunk["title"] == "B"
    assert np.allclose(view.vectors(["a#0"])[0], near("a"))
    assert store.doc_states(store.tags()["v1"]) == {"a": ("h-a", "a.txt"), "b": ("h-b", "b.txt")}


def test_the_head_rolls_back_to_a_version_or_to_nothing(store):
    v1 = tagged(store, "v1", "a")
    store.add([row("b")], dim=3)
    store.reset_head(v1)
    assert set(store.doc_states(store.head_version())) == {"a"}
    store.reset_head(None)
    assert store.doc_states(store.head_version()) == {}


def test_retention_keeps_every_tagged_version_readable(store):
    tagged(store, "v1", "a")
    tagged(store, "v2", "a", "b")
    tagged(store, "v3", "b", "c")
    store.delete_tag("v2")
    store.reclaim()
    assert set(store.tags()) == {"v1", "v3"}
    assert {d["doc_id"] for d in store.view("v1").documents()} == {"a"}
    assert {d["doc_id"] for d in store.view("v3").documents()} == {"b", "c"}


def test_an_intact_versions_files_check_out_and_a_lost_tag_can_be_pointed_again(store):
    version = tagged(store, "v1", "a", "b")
    sums = store.checksums("v1", {})
    assert sums and store.damaged(sums, deep=True) == [] and store.damaged(sums, deep=False) == []
    store.delete_tag("v1")
    assert store.view("v1", lance_version=version).count_docs() == 2  # opened by its Lance version
    store.retag("v1", version)
    assert store.tags()["v1"] == version
