"""`ragship doctor` on a real home: healthy, then each kind of damage found, repaired where that loses nothing,
explained where it cannot be, and search working afterwards; every state file read with a clear error."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import DATA, make_engine

from ragship.errors import HomeFileDamaged


@pytest.fixture
def two_versions(tmp_path, cache_dir):
    """A home with v1 (the sample docs) and v2 (plus one file), v2 live."""
    docs = tmp_path / "docs"
    shutil.copytree(DATA / "docs", docs)
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([docs])
    (docs / "harbour.txt").write_text("The harbour ferry to the island leaves every hour from pier 4.\n")
    engine.ingest([docs])
    assert engine.registry.live().id == "v2"
    return engine


def problems(findings) -> dict[str, str]:
    return {f.check: f.problem for f in findings if f.problem}


def fresh(engine):
    return make_engine(engine.settings.home, engine.settings.cache_dir)


def test_a_healthy_home_passes_every_check(two_versions):
    findings = two_versions.doctor()
    assert all(f.ok and f.problem is None for f in findings)
    assert {"version records", "v1", "v2", "live pointer", "calibrations", "state store", "API keys", "query log",
            "embedding cache"} <= {f.check for f in findings}


def test_damage_is_found_repaired_or_explained_and_search_works_after(two_versions):
    engine, home = two_versions, two_versions.home
    v1, v2 = engine.registry.get("v1"), engine.registry.get("v2")
    only_v2 = next(f for f in v2.files if f.startswith("data/") and f not in v1.files)
    lance_root = home.lance / "chunks.lance"
    data = bytearray((lance_root / only_v2).read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte: same size, other content
    (lance_root / only_v2).write_bytes(bytes(data))
    (home.index / "LIVE").write_text((home.index / "LIVE").read_text()[:10])  # truncated
    engine.store().table().tags.delete("v1")
    home.calibration.mkdir(parents=True, exist_ok=True)
    (home.calibration / "v2.json").write_text('{"features": [')

    with pytest.raises(HomeFileDamaged, match="LIVE cannot be read.*doctor --repair"):
        fresh(engine).search("ferry")
    found = problems(fresh(engine).doctor())
    assert set(found) == {"v1 tag", "v2 files", "live pointer", "calibrations"}
    assert "content changed" in found["v2 files"] and "JSONDecodeError" in found["live pointer"]

    repaired = fresh(engine).doctor(repair=True)
    by_check = {f.check: f for f in repaired}
    assert by_check["v1 tag"].repaired and by_check["calibrations"].repaired
    assert not by_check["v2 files"].ok and "re-ingest" in by_check["v2 files"].remedy  # data: explained
    assert by_check["live pointer"].repaired and "v1 made live" in by_check["live pointer"].remedy
    after = fresh(engine)
    assert after.registry.live().id == "v1" and after.search("ferry").hits
    assert [p.name for p in home.calibration.iterdir()][0].startswith("v2.json.corrupt-")
    again = {f.check: f for f in after.doctor()}
    assert not problems(again.values()) and "kept out of service" in again["v2"].detail
    assert after.registry.get("v2").status("v1") == "damaged"
    after.ingest([engine.settings.home.parent / "docs"])  # from the sources: what v2 held is back, in v3
    assert after.registry.live().id == "v3" and after.search("harbour ferry island", mode="bm25").hits


def test_damaged_index_files_are_rebuilt_from_the_table(two_versions):
    engine = two_versions
    v2 = engine.registry.get("v2")
    index_file = next(f for f in v2.files if f.startswith("_indices/"))
    (engine.home.lance / "chunks.lance" / index_file).write_bytes(b"\0" * 16)
    assert "v2 files" in problems(fresh(engine).doctor())
    repaired = {f.check: f for f in fresh(engine).doctor(repair=True)}
    assert repaired["v2 files"].repaired and repaired["v2"].problem is None
    after = fresh(engine)
    assert after.registry.live().id == "v2" and after.search("harbour ferry island", mode="bm25").hits
    assert not problems(after.doctor())


def test_lost_version_records_come_back_from_their_backup(two_versions):
    engine = two_versions
    engine.registry.versions_path.write_text("[{")
    with pytest.raises(HomeFileDamaged, match="versions.json cannot be read"):
        fresh(engine).registry.all()
    repaired = {f.check: f for f in fresh(engine).doctor(repair=True)}
    assert repaired["version records"].repaired and "versions.backup.json" in repaired["version records"].remedy
    assert [v.id for v in fresh(engine).registry.all()] == ["v1", "v2"]


def test_a_damaged_query_log_and_cache_entries_are_set_aside(two_versions):
    import sqlite3

    engine, home = two_versions, two_versions.home
    home.legacy_query_log.write_bytes(b"this is not a database" * 100)  # an older home's log, not importable
    with sqlite3.connect(home.cache_dir / "embeddings.sqlite") as db:
        db.execute("INSERT INTO embeddings VALUES ('x', X'00', X'0102')")
        db.execute("INSERT INTO embeddings VALUES ('x', X'01', X'01020304')")
        db.execute("INSERT INTO embeddings VALUES ('x', X'02', X'01020304')")
    found = problems(fresh(engine).doctor())
    assert "file is not a database" in found["query log"] and "1 entries" in found["embedding cache"]
    fresh(engine).doctor(repair=True)
    assert not problems(fresh(engine).doctor()) and list(home.root.glob("monitor.sqlite.corrupt-*"))


def test_a_damaged_state_store_is_named_with_its_remedy(two_versions):
    engine = two_versions
    engine.state.ensure_schema()
    engine.state.close()
    engine.home.state_sqlite.write_bytes(b"this is not a database" * 100)
    findings = {f.check: f for f in fresh(engine).doctor()}
    assert "file is not a database" in findings["state store"].problem
    assert "restore state.sqlite from a backup" in findings["state store"].remedy and not findings["API keys"].ok


def test_a_broken_key_store_is_explained_and_fails_closed(two_versions):
    engine = two_versions
    engine.home.legacy_keys.write_text('{"keys": [{"id": 1}]}')
    finding = {f.check: f for f in fresh(engine).doctor(repair=True)}["API keys"]
    assert not finding.ok and "restore keys.json from a backup" in finding.remedy


def test_the_cli_names_the_file_and_the_repair_with_exit_6_and_no_traceback(two_versions, tmp_path):
    home = two_versions.home
    (home.index / "LIVE").write_text("{")
    env = {"RAGSHIP_HOME": str(home.root), "RAGSHIP_CACHE_DIR": str(two_versions.settings.cache_dir)}
    run = subprocess.run([sys.executable, "-m", "ragship", "status"], capture_output=True, text=True,
                         env={**__import__("os").environ, **env})
    assert run.returncode == 6 and "Traceback" not in run.stderr
    assert "LIVE cannot be read" in run.stderr and "ragship doctor --repair" in run.stderr
    run = subprocess.run([sys.executable, "-m", "ragship", "doctor", "--json"], capture_output=True, text=True,
                         env={**__import__("os").environ, **env})
    assert run.returncode == 6 and {f["check"] for f in json.loads(run.stdout) if not f["ok"]} == {"live pointer"}
    run = subprocess.run([sys.executable, "-m", "ragship", "doctor", "--repair"], capture_output=True, text=True,
                         env={**__import__("os").environ, **env})
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_broken_deleted_documents_list_comes_back_from_its_backup(two_versions):
    engine = two_versions
    gone = sorted(d["doc_id"] for d in engine.serving.documents())[0]
    engine.delete_documents([gone])
    engine.home.tombstones.write_text("{not json")
    with pytest.raises(HomeFileDamaged, match="tombstones.json cannot be read"):
        fresh(engine).search("ferry")
    finding = {f.check: f for f in fresh(engine).doctor(repair=True)}["deleted documents"]
    assert finding.repaired and "restored 1 tombstones" in finding.remedy
    after = fresh(engine)
    after.releases().rollback("v1")  # an older version still holds the document: it stays hidden
    assert gone not in {d["doc_id"] for d in after.serving.documents()}


def test_a_removed_index_folder_is_a_problem_not_an_empty_home(tmp_path, cache_dir):
    """Issue 31 item 7: with the whole index/ folder removed, every row said ok and doctor exited 0."""
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([DATA / "docs"])
    shutil.rmtree(tmp_path / "home" / "index")
    found = {f.check: f for f in make_engine(tmp_path / "home", cache_dir).doctor()}["version records"]
    assert not found.ok and "has ingested" in found.problem and "ragship import" in found.remedy
    fresh = make_engine(tmp_path / "fresh", cache_dir).doctor()
    assert all(f.ok for f in fresh)  # a home that never ingested is healthy


def test_a_version_whose_longest_word_is_a_stop_word_is_healthy_and_a_truncated_live_is_repaired(tmp_path, cache_dir):
    """Issue 32: the probe searched BM25 for the longest word of the first chunk; "Doc 1 about tides." gave
    "about", a stop word, so the only version was condemned and a truncated LIVE could not be repaired."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in (1, 2, 3):
        (docs / f"d{n}.txt").write_text(f"Doc {n} about tides.\n")
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([docs])
    live = tmp_path / "home" / "index" / "LIVE"
    live.write_text(live.read_text()[:7])
    findings = make_engine(tmp_path / "home", cache_dir).doctor(repair=True)
    assert all(f.ok for f in findings), [f.to_dict() for f in findings if not f.ok]
    assert make_engine(tmp_path / "home", cache_dir).search("tides").hits
