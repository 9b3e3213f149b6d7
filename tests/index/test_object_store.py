"""The index on an S3-compatible server (moto's, started by the test session): the server honours conditional
PUT (what Lance's commits rely on), concurrent writers never lose a commit, and ingest, search, versions,
rollback, retention, doctor and export/import work as they do on a local folder."""

from __future__ import annotations

import multiprocessing
import shutil

import boto3
import pytest

from conftest import DATA, make_engine
from ragship.index.store import ChunkStore


def _s3(env):
    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def test_the_server_refuses_a_second_conditional_put(s3_server, s3_bucket):
    """If it ignored If-None-Match, two Lance writers could both 'win' a version and one commit would vanish:
    the race test below would then prove nothing."""
    s3 = _s3(s3_server)
    s3.put_object(Bucket=s3_bucket, Key="manifest", Body=b"first", IfNoneMatch="*")
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=s3_bucket, Key="manifest", Body=b"second", IfNoneMatch="*")
    assert s3.get_object(Bucket=s3_bucket, Key="manifest")["Body"].read() == b"first"


def _row(writer: int, i: int) -> dict:
    return {"chunk_id": f"w{writer}-{i}", "doc_id": f"w{writer}-{i}", "doc_hash": "h", "source": "s", "title": "t",
            "text": "x", "index_text": "x", "start": 0, "end": 1, "heading_path": [], "metadata": "{}",
            "vector": [float(writer), float(i)]}


def _write(uri: str, env: dict, writer: int, commits: int, acknowledged) -> None:
    import os

    os.environ.update(env)
    store = ChunkStore(uri)
    for i in range(commits):
        store.add([_row(writer, i)], dim=2)  # returns once Lance's commit of this version succeeded
        acknowledged.put(f"w{writer}-{i}")


def test_concurrent_writers_never_lose_a_commit(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/race"
    ChunkStore(uri).table(dim=2)
    context = multiprocessing.get_context("spawn")
    acknowledged = context.Queue()
    writers = [context.Process(target=_write, args=(uri, s3_server, w, 8, acknowledged)) for w in range(4)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(timeout=300)
        assert p.exitcode == 0
    acked = {acknowledged.get(timeout=10) for _ in range(32)}
    present = set(ChunkStore(uri).table().to_arrow()["chunk_id"].to_pylist())
    assert len(acked) == 32 and acked <= present  # 4 writers × 8 commits, every one of them kept


def test_a_home_with_its_index_on_s3_works_like_a_local_one(s3_server, s3_bucket, tmp_path, cache_dir):
    docs = tmp_path / "docs"
    shutil.copytree(DATA / "docs", docs)
    engine = make_engine(tmp_path / "home", cache_dir, index={"uri": f"s3://{s3_bucket}/team"})
    local = make_engine(tmp_path / "local", cache_dir)
    for e in (engine, local):
        e.ingest([docs])
    assert not (tmp_path / "home" / "index" / "lance").exists()  # the chunks are on the server
    assert _hits(engine) == _hits(local)

    (docs / "harbour.txt").write_text("The harbour ferry to the island leaves every hour from pier 4.\n")
    engine.ingest([docs])
    assert engine.search("harbour ferry pier", "hybrid", 1).hits[0].doc_id.endswith("harbour.txt")
    engine.releases().rollback()
    assert engine.registry.live().id == "v1" and _hits(engine) == _hits(local)
    assert not any(f.problem for f in engine.doctor())

    v2 = engine.registry.get("v2")
    only_v2 = next(f for f in v2.files if f.startswith("data/") and f not in engine.registry.get("v1").files)
    _s3(s3_server).delete_object(Bucket=s3_bucket, Key=f"team/chunks.lance/{only_v2}")
    found = {f.check: f.problem for f in engine.doctor() if f.problem}
    assert "missing" in found["v2 files"]  # found on the object store too

    archive = tmp_path / "v1.ragship"
    engine.releases().export("v1", archive)
    imported = make_engine(tmp_path / "imported", cache_dir)
    imported.releases().import_(archive)
    assert _hits(imported) == _hits(local)


def _hits(engine) -> list[tuple[str, str]]:
    return [(h.doc_id, h.chunk_id) for q in ("night tram Lantern", "refund policy", "ferry timetable")
            for h in engine.search(q, "hybrid", 3).hits]
