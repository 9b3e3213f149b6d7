"""Retention: after many ingests only the live, the newest `keep_last` and pinned versions stay, each still
serving, and the disk holds about that many versions' worth (a home that keeps everything holds all ten)."""

from conftest import make_engine


def ten_versions(home, cache_dir, docs, keep_last: int):
    """Ten ingests, each with other chunk sizes: every document is rebuilt, so each version is a full copy."""
    settings = {"release": {"keep_last": keep_last, "retire_grace_s": 0}}
    first = make_engine(home, cache_dir, chunk={"tokens": 100, "overlap": 8}, **settings)
    first.release(first.ingest([docs]))
    one_version = first.store().disk_bytes()
    for i in range(2, 11):
        engine = make_engine(home, cache_dir, chunk={"tokens": 100 + 8 * i, "overlap": 8}, **settings)
        assert engine.release(engine.ingest([docs])).version == f"v{i}"
        if i == 2 and keep_last < 10:
            engine.releases().pin("v2")
    return engine, one_version


def test_old_versions_go_and_the_kept_ones_serve(tmp_path, cache_dir, docs_copy):
    engine, one_version = ten_versions(tmp_path / "home", cache_dir, docs_copy, keep_last=3)
    status = {v["id"]: v["status"] for v in engine.releases().versions()}
    assert status["v10"] == "live" and status["v8"] == status["v9"] == status["v2"] == "retired"
    assert {v for v, s in status.items() if s == "deleted"} == {"v1", "v3", "v4", "v5", "v6", "v7"}
    for v in ("v2", "v8", "v9", "v10"):
        assert engine.at_version(v).search("tram ticket").index_version == v
    assert sorted(engine.store().table().tags.list()) == ["v10", "v2", "v8", "v9"]
    assert engine.store().disk_bytes() <= 5 * one_version

    everything, _ = ten_versions(tmp_path / "control", cache_dir, docs_copy, keep_last=100)
    assert everything.store().disk_bytes() > 5 * one_version  # without retention the bound would not hold


def test_cleanup_command_reports_what_it_freed(tmp_path, docs_copy):
    import json

    from typer.testing import CliRunner

    from ragship.cli import app

    home = ["--home", str(tmp_path / "home")]
    runner = CliRunner()
    assert runner.invoke(app, [*home, "ingest", str(docs_copy)]).exit_code == 0
    done = runner.invoke(app, [*home, "versions", "cleanup", "--json"])
    assert done.exit_code == 0
    report = json.loads(done.stdout)
    assert report["deleted"] == [] and report["disk_bytes"] > 0


def test_versions_show_their_disk_use_and_what_they_share(tmp_path, cache_dir, docs_copy):
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([docs_copy])
    (docs_copy / "added.md").write_text("# Night trams\n\nThe night tram leaves the depot at midnight.\n")
    assert engine.ingest([docs_copy]).version == "v2"
    disk = {v["id"]: v["disk"] for v in engine.releases().versions()}
    assert 0 < disk["v1"]["own_bytes"] < disk["v1"]["bytes"]  # v2 reads most of v1's files
    assert disk["v2"]["bytes"] > disk["v1"]["bytes"]
    assert disk["v1"]["bytes"] + disk["v2"]["own_bytes"] <= engine.store().disk_bytes()
