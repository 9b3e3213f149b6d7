"""A source read only in part deletes nothing it did not see (issue 31 item 2): for a folder, an S3 prefix, a Git
repository and a website, a listing cut short (a page limit, a timeout, a 5xx, a permission error half-way)
leaves every document it did not reach live. Each case ingests the whole source, cuts the next listing short,
re-syncs, and counts what was deleted."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import make_engine
from test_remote import FILES, Site, page, website

SITE_PAGES = 5


def write_site(root: Path) -> None:
    (root / "docs").mkdir(parents=True)
    links = [f"p{i}.html" for i in range(1, SITE_PAGES)]
    (root / "docs/index.html").write_text(page("Index", "Start here.", links))
    for i in range(1, SITE_PAGES):
        (root / f"docs/p{i}.html").write_text(page(f"Page {i}", f"Tram line {i} runs every {i + 5} minutes."))


def resync(engine, location: str) -> dict:
    report = engine.ingest([location])
    return {"deleted": report.deleted, "failed": len(report.failures), "partial": len(report.partial),
            "live": engine.view().count_docs()}


def web_case(tmp_path, cache_dir, cut: str) -> dict:
    write_site(tmp_path / "site")
    engine = make_engine(tmp_path / "home", cache_dir, sources=[])
    with website(tmp_path / "site") as base:
        location = f"{base}/docs/"
        assert engine.ingest([location]).added == SITE_PAGES
        if cut == "page limit":
            engine = make_engine(tmp_path / "home", cache_dir, sources=[{"path": location, "max_pages": 3}])
            return resync(engine, location)
        if cut == "5xx half-way":
            Site.failing = {"/docs/p2.html", "/docs/p3.html"}
        elif cut == "timeout half-way":
            Site.failing = set()
            (tmp_path / "site/docs/index.html").write_text(page("Index", "Start.", ["p1.html", "slow.html"]))
        try:
            if cut == "timeout half-way":
                import httpx

                real_get = httpx.Client.get

                def slow(self, url, *a, **kw):
                    if str(url).endswith("/slow.html"):
                        raise httpx.ReadTimeout("timed out", request=None)
                    return real_get(self, url, *a, **kw)

                httpx.Client.get = slow
            return resync(engine, location)
        finally:
            Site.failing = set()
            if cut == "timeout half-way":
                httpx.Client.get = real_get


def folder_case(tmp_path, cache_dir, cut: str, monkeypatch) -> dict:
    kb = tmp_path / "kb"
    for key, text in FILES.items():
        (kb / key).parent.mkdir(parents=True, exist_ok=True)
        (kb / key).write_text(text)
    engine = make_engine(tmp_path / "home", cache_dir)
    assert engine.ingest([kb]).added == len(FILES)
    real = os.scandir

    def refusing(path="."):  # root reads everything: the permission error is injected where the walk lists
        if Path(path).name == "guide":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refusing)
    return resync(engine, str(kb))


def s3_case(tmp_path, cache_dir, cut: str, request, monkeypatch) -> dict:
    import boto3
    import botocore.exceptions

    bucket = request.getfixturevalue("s3_bucket")
    for i in range(6):
        boto3.client("s3").put_object(Bucket=bucket, Key=f"kb/note-{i}.md", Body=f"# Note {i}\n\nBay {i}.\n".encode())
    engine = make_engine(tmp_path / "home", cache_dir)
    location = f"s3://{bucket}/kb"
    assert engine.ingest([location]).added == 6
    real = boto3.client

    def cut_short(*args, **kwargs):
        client = real(*args, **kwargs)
        pages = client.get_paginator("list_objects_v2")

        class Paginator:
            def paginate(self, **kw):
                for n, listed in enumerate(pages.paginate(**kw, PaginationConfig={"PageSize": 2})):
                    if n == 1:
                        raise botocore.exceptions.ClientError(
                            {"Error": {"Code": "InternalError", "Message": "We encountered an internal error"},
                             "ResponseMetadata": {"HTTPStatusCode": 500}}, "ListObjectsV2")
                    yield listed

        client.get_paginator = lambda name: Paginator()
        return client

    monkeypatch.setattr(boto3, "client", cut_short)
    return resync(engine, location)


def git_case(tmp_path, cache_dir, cut: str) -> dict:
    git = pytest.importorskip("git")
    kb = tmp_path / "kb"
    for key, text in FILES.items():
        (kb / key).parent.mkdir(parents=True, exist_ok=True)
        (kb / key).write_text(text)
    repo = git.Repo.init(kb)
    repo.config_writer().set_value("user", "name", "t").set_value("user", "email", "t@example.org").release()
    repo.index.add(list(FILES))
    repo.index.commit("first")
    engine = make_engine(tmp_path / "home", cache_dir)
    location = f"git+file://{kb}"
    assert engine.ingest([location]).added == len(FILES)
    if cut == "unreachable":
        shutil.move(kb, tmp_path / "moved")
        return resync(engine, location)
    return resync(engine, f"{location}@no-such-branch")


CASES = [("folder", "permission error half-way"), ("s3", "5xx half-way"), ("git", "unreachable"),
         ("git", "missing branch"), ("website", "page limit"), ("website", "5xx half-way"),
         ("website", "timeout half-way")]


@pytest.mark.parametrize("kind, cut", CASES, ids=[f"{k}-{c}" for k, c in CASES])
def test_a_source_read_in_part_deletes_nothing(kind, cut, tmp_path, cache_dir, request, monkeypatch):
    started = time.monotonic()
    if kind == "website":
        row = web_case(tmp_path, cache_dir, cut)
    elif kind == "folder":
        row = folder_case(tmp_path, cache_dir, cut, monkeypatch)
    elif kind == "s3":
        row = s3_case(tmp_path, cache_dir, cut, request, monkeypatch)
    else:
        row = git_case(tmp_path, cache_dir, cut)
    print(f"\n| {kind} | {cut} | deleted {row['deleted']} | live {row['live']} | failed {row['failed']} | "
          f"partial {row['partial']} | {time.monotonic() - started:.1f} s |")
    assert row["deleted"] == 0 and row["failed"] + row["partial"] > 0, row
