"""The ingest pipeline against a real LanceDB and the real embedder (tiny data, shared embedding cache)."""

import shutil
from pathlib import Path

from conftest import DATA, make_engine


def test_first_ingest_commits_a_live_version(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "h", cache_dir)
    report = engine.ingest([DATA / "docs"])
    assert (report.added, report.changed, report.deleted, report.failures) == (6, 0, 0, [])
    assert report.new_version and report.version == "v1"
    live = engine.registry.live()
    assert live.id == "v1" and live.counts == {"documents": 6, "chunks": report.chunks}
    assert live.params["chunk"] == {"strategy": "heading", "tokens": 200, "overlap": 32}
    assert live.model_id.startswith("all-MiniLM-L6-v2@")


def test_unchanged_input_embeds_nothing_and_keeps_the_version(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([DATA / "docs"])
    again = make_engine(tmp_path / "h", cache_dir).ingest([DATA / "docs"])
    assert (again.unchanged, again.chunks_written, again.chunks_embedded) == (6, 0, 0)
    assert not again.new_version and again.version == "v1"


def test_changes_and_deletions_propagate_into_a_new_version(tmp_path, cache_dir, docs_copy):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([docs_copy])
    (docs_copy / "handbook/history.txt").write_text("The depot cat is called Omnibus and sleeps on tram 7.")
    (docs_copy / "ferries.pdf").unlink()
    (docs_copy / "new.md").write_text("# New\n\nThe Lido kiosk sells cardamom buns.")
    report = engine.ingest([docs_copy])
    assert (report.added, report.changed, report.deleted, report.unchanged) == (1, 1, 1, 4)
    assert report.chunks_embedded == report.chunks_written == 2  # only the new and changed documents
    assert report.version == "v2" and report.documents == 6
    hits = engine.search("what is the depot cat called", "bm25", 3).hits
    assert hits[0].doc_id == "docs/handbook/history.txt" and "Omnibus" in hits[0].text
    assert not [h for h in engine.search("harbour ferry crossing", "bm25", 50).hits if h.doc_id == "docs/ferries.pdf"]
    # the previous version is still whole and readable
    old = engine.store().view("v1")
    assert old.count_docs() == 6 and any(r["doc_id"] == "docs/ferries.pdf" for r in old.bm25("ferry", 10))


def test_failed_files_are_reported_and_good_ones_ingested(tmp_path, cache_dir):
    mixed = tmp_path / "mixed"
    shutil.copytree(DATA / "bad", mixed)
    shutil.copy(DATA / "docs/handbook/history.txt", mixed / "good.txt")
    report = make_engine(tmp_path / "h", cache_dir).ingest([mixed])
    assert report.added == 1 and report.version == "v1"
    assert sorted(Path(f.path).name for f in report.failures) == [
        "binary.txt", "empty.md", "latin1.txt", "truncated.pdf", "zip-renamed.pdf"]


def test_a_file_that_turns_bad_keeps_its_last_good_version(tmp_path, cache_dir, docs_copy):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([docs_copy])
    (docs_copy / "ferries.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = engine.ingest([docs_copy])
    assert report.deleted == 0 and len(report.failures) == 1
    assert report.documents == 6


def test_missing_source_never_deletes_its_documents(tmp_path, cache_dir, docs_copy):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([docs_copy])
    moved = docs_copy.rename(tmp_path / "elsewhere")
    report = engine.ingest([docs_copy])
    assert report.deleted == 0 and report.ingested == 0 and "path not found" in report.failures[0].reason
    assert engine.registry.live().counts["documents"] == 6
    assert moved.exists()


def test_settings_change_rebuilds_every_document(tmp_path, cache_dir):
    make_engine(tmp_path / "h", cache_dir).ingest([DATA / "docs"])
    report = make_engine(tmp_path / "h", cache_dir, chunk={"tokens": 64, "overlap": 8}).ingest([DATA / "docs"])
    assert report.changed == 6 and report.version == "v2"
    assert report.chunks > 4


def test_bm25_settings_change_rebuilds_the_full_text_index_only(tmp_path, cache_dir):
    """search.bm25_* shape the full-text index, not the chunks: a change commits a new version with the index
    rebuilt, re-embedding nothing; without stemming "trams" no longer finds "tram"."""
    stemmed = make_engine(tmp_path / "h", cache_dir)
    stemmed.ingest([DATA / "docs"])
    assert stemmed.registry.live().params["fts"] == {"stem": True, "stop_words": True}
    found = {h.doc_id for h in stemmed.search("trams", "bm25", 10).hits}
    plain = make_engine(tmp_path / "h", cache_dir, search={"bm25_stem": False})
    report = plain.ingest([DATA / "docs"])
    assert report.reindexed and report.new_version and report.version == "v2"
    assert (report.unchanged, report.changed, report.chunks_written, report.chunks_embedded) == (6, 0, 0, 0)
    assert plain.registry.live().params["fts"] == {"stem": False, "stop_words": True}
    exact = {h.doc_id for h in plain.search("trams", "bm25", 10).hits}
    assert exact < found and "docs/handbook/trams.md" in found - exact  # "tram" there, never "trams"
    assert not plain.ingest([DATA / "docs"]).new_version  # built as configured: nothing to do


def test_partial_writes_of_a_crashed_ingest_are_discarded(tmp_path, cache_dir, docs_copy):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([docs_copy])
    # simulate a crash after rows were written but before the version was committed
    store = engine.store()
    rows = store.table().search().limit(1).to_list()
    rows[0]["chunk_id"] = "orphan#0"
    rows[0].pop("_distance", None)
    store.add([{k: v for k, v in rows[0].items() if not k.startswith("_")}], engine.embedder.dim)
    assert store.table().count_rows() == engine.registry.live().counts["chunks"] + 1
    (docs_copy / "new.txt").write_text("A fresh document about gull feeding hours.")
    report = make_engine(tmp_path / "h", cache_dir).ingest([docs_copy])
    assert report.added == 1 and report.chunks == engine.registry.get("v1").counts["chunks"] + 1
    assert not engine.store().view(report.version).chunks(["orphan#0"])


class Interrupted(Exception):
    pass


def test_an_interrupted_build_resumes_without_redoing_written_documents(tmp_path, cache_dir, docs_copy):
    from ragship.ingest.pipeline import ingest

    engine = make_engine(tmp_path / "h", cache_dir, ingest={"write_batch": 1})
    real = engine.embedder.embed_batch
    calls = []

    def dies_on_third_batch(texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise Interrupted  # as a kill would: two documents are committed, the rest are not
        return real(texts)

    engine.embedder.embed_batch = dies_on_third_batch
    try:
        ingest([docs_copy], settings=engine.settings, embedder=engine.embedder, store=engine.store(),
               registry=engine.registry)
    except Interrupted:
        pass
    assert engine.registry.live() is None and engine.registry.build_base() == (True, None)
    engine.embedder.embed_batch = real

    resumed = engine.ingest([docs_copy])
    assert resumed.resumed and resumed.already_written == 2 and resumed.added == 6
    assert resumed.chunks_written < resumed.chunks  # the two written documents were not written again
    assert engine.registry.build_base() == (False, None)

    clean = make_engine(tmp_path / "clean", cache_dir).ingest([docs_copy])

    def ids(e):
        return sorted(r["chunk_id"] for r in e.store().view("v1").bm25("tram ferry depot horses", 100))

    assert resumed.chunks == clean.chunks and ids(engine) == ids(make_engine(tmp_path / "clean", cache_dir))


def test_a_head_built_on_another_live_version_is_discarded(tmp_path, cache_dir, docs_copy):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([docs_copy])
    engine.registry.begin_build("v0")  # a journal from some other base: its head must not be trusted
    (docs_copy / "new.txt").write_text("Gulls are fed at noon.")
    report = engine.ingest([docs_copy])
    assert not report.resumed and report.added == 1


def test_dry_run_plans_and_writes_nothing(tmp_path, cache_dir, docs_copy):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([docs_copy])
    (docs_copy / "handbook/history.txt").write_text("Changed.")
    (docs_copy / "ferries.pdf").unlink()
    (docs_copy / "new.md").write_text("# New\n\nNew text here.")
    plan = engine.ingest([docs_copy], dry_run=True)
    assert plan.plan == {"added": ["docs/new.md"], "changed": ["docs/handbook/history.txt"],
                         "deleted": ["docs/ferries.pdf"]}
    assert (plan.unchanged, plan.chunks_written, plan.chunks_embedded) == (4, 0, 0)
    assert engine.registry.live().id == "v1" and engine.registry.build_base() == (False, None)


def test_per_source_chunking_and_metadata(tmp_path, cache_dir, monkeypatch, docs_copy):
    config = tmp_path / "ragship.toml"
    config.write_text(f'[[sources]]\npath = "{docs_copy / "handbook"}"\n'
                      'chunk = { strategy = "fixed", tokens = 24, overlap = 4 }\n'
                      'metadata = { team = "trams" }\n')
    monkeypatch.setenv("RAGSHIP_CONFIG", str(config))
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([docs_copy / "handbook"])
    hits = engine.search("night tram Lantern", "bm25", 5).hits
    assert all(h.metadata["team"] == "trams" for h in hits)
    assert max(len(engine.embedder.token_spans(h.text)) for h in hits) <= 24
    # settings follow the files' paths: ingesting the folder above applies them to the handbook files only
    engine.ingest([docs_copy])
    by_doc = {h.doc_id: h for h in engine.search("tram ferry harbour", "bm25", 50).hits}
    assert by_doc["docs/handbook/trams.md"].metadata["team"] == "trams"
    assert "team" not in by_doc["docs/ferries.pdf"].metadata


def test_prefetched_keeps_order_bounds_lookahead_and_raises_where_the_error_was():
    import pytest

    from ragship.ingest.pipeline import prefetched

    produced = []

    def items():
        for i in range(10):
            produced.append(i)
            yield i
        raise ValueError("bad row 10")

    it = prefetched(items(), 2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    assert len(produced) <= 3 + 2 + 1  # at most `size` ahead (plus the one in hand)
    with pytest.raises(ValueError, match="bad row 10"):
        list(it)
    assert produced == list(range(10))
