"""Every DocumentSource (a folder, an S3 prefix, a Git repository, a website) keeps the same contract: stable ids
and content hashes across scans, its root on every document, and an unreachable source as one Failure without a
document id (so nothing is deleted)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from ragship.ingest.document import DocumentSource
from ragship.ingest.remote import remote_source
from ragship.ingest.sources import Source
from ragship.types import Document, Failure
from test_remote import FILES, website, write_site


def write_files(root: Path) -> None:
    for key, text in FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(text)


@contextmanager
def folder(tmp_path, request):
    write_files(tmp_path / "kb")
    yield Source(tmp_path / "kb", 10**6), Source(tmp_path / "missing", 10**6)


@contextmanager
def s3(tmp_path, request):
    import boto3

    bucket = request.getfixturevalue("s3_bucket")
    for key, text in FILES.items():
        boto3.client("s3").put_object(Bucket=bucket, Key=f"kb/{key}", Body=text.encode())
    yield (remote_source(f"s3://{bucket}/kb", None, max_bytes=10**6, cache=tmp_path),
           remote_source(f"s3://{bucket}-missing/kb", None, max_bytes=10**6, cache=tmp_path))


@contextmanager
def git(tmp_path, request):
    git = pytest.importorskip("git")
    write_files(tmp_path / "kb")
    repo = git.Repo.init(tmp_path / "kb")
    repo.config_writer().set_value("user", "name", "t").set_value("user", "email", "t@example.org").release()
    repo.index.add(list(FILES))
    repo.index.commit("first")
    yield (remote_source(f"git+file://{tmp_path / 'kb'}", None, max_bytes=10**6, cache=tmp_path),
           remote_source(f"git+file://{tmp_path / 'missing'}", None, max_bytes=10**6, cache=tmp_path))


@contextmanager
def web(tmp_path, request):
    write_site(tmp_path / "site")
    with website(tmp_path / "site") as base:
        yield (remote_source(f"{base}/docs/index.html", None, max_bytes=10**6, cache=tmp_path),
               remote_source("http://127.0.0.1:9/docs/", None, max_bytes=10**6, cache=tmp_path))


@pytest.mark.parametrize("kind", [folder, s3, git, web], ids=lambda k: k.__name__)
def test_a_source_keeps_the_contract(kind, tmp_path, request):
    with kind(tmp_path, request) as (source, unreachable):
        assert isinstance(source, DocumentSource) and isinstance(unreachable, DocumentSource)
        first, again = list(source.documents()), list(source.documents())
        assert first and all(isinstance(d, Document) for d in first), first
        assert {d.doc_id: d.content_hash for d in first} == {d.doc_id: d.content_hash for d in again}
        assert len({d.doc_id for d in first}) == len(first) and all(d.source == source.root for d in first)
        assert source.complete and source.exists() and source.estimate() >= 0
        gone = list(unreachable.documents())
        assert all(isinstance(f, Failure) and not f.doc_id for f in gone) and (gone or not unreachable.exists())
