"""Sources beyond a local folder against real servers: an S3 server (moto), a Git repository (git itself), a
website (a local HTTP server). Each: ingested, then one file edited, one removed, one added, and re-synced: the
plan names exactly those, and the index follows."""

from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import make_engine
from ragship.ingest.remote import WebSource, remote_source
from ragship.types import Failure, Partial

FILES = {"guide/boarding.md": "# Boarding\n\nRear doors open for prams and wheelchairs on every tram.\n",
         "guide/fares.md": "# Fares\n\nA day ticket costs 7 euros and covers every zone.\n",
         "notes.txt": "The Quarry Road depot closes for rebuilding in March.\n"}


def resync(engine, location: str, change) -> dict[str, list[str]]:
    """Ingest, change the source, and return the plan of a dry run (then ingest the change for real)."""
    first = engine.ingest([location])
    assert first.added == 3 and not first.failures, first.failures
    change()
    plan = engine.ingest([location], dry_run=True)
    assert not plan.failures and plan.unchanged == 1
    engine.ingest([location])
    return {k: sorted(v) for k, v in plan.plan.items()}


def found(engine, query: str) -> list[str]:
    return [h.doc_id for h in engine.search(query, "bm25", 3).hits]


def test_s3_prefix(tmp_path, cache_dir, s3_bucket):
    import boto3

    s3 = boto3.client("s3")
    for key, text in FILES.items():
        s3.put_object(Bucket=s3_bucket, Key=f"docs/{key}", Body=text.encode())
    s3.put_object(Bucket=s3_bucket, Key="docs2/elsewhere.md", Body=b"# Not under the prefix\n")
    engine = make_engine(tmp_path / "home", cache_dir)

    def change():
        s3.put_object(Bucket=s3_bucket, Key="docs/guide/fares.md", Body=b"# Fares\n\nA day ticket costs 8 euros.\n")
        s3.delete_object(Bucket=s3_bucket, Key="docs/notes.txt")
        s3.put_object(Bucket=s3_bucket, Key="docs/lost.md", Body=b"# Lost property\n\nAsk at Kettle Square.\n")

    uri = f"s3://{s3_bucket}/docs"
    assert resync(engine, uri, change) == {"added": [f"{uri}/lost.md"], "changed": [f"{uri}/guide/fares.md"],
                                           "deleted": [f"{uri}/notes.txt"]}
    assert found(engine, "day ticket euros") == [f"{uri}/guide/fares.md"]
    assert found(engine, "Kettle Square lost property")[0] == f"{uri}/lost.md"


def test_unreachable_s3_source_fails_without_deleting(tmp_path, cache_dir, s3_bucket):
    source = remote_source(f"s3://{s3_bucket}-missing/docs", None, max_bytes=10**6, cache=tmp_path)
    [failure] = list(source.documents())
    assert isinstance(failure, Failure) and not failure.doc_id and "nothing was deleted" in failure.reason


def test_git_repository_branch(tmp_path, cache_dir):
    git = pytest.importorskip("git")
    repo = git.Repo.init(tmp_path / "timetables", initial_branch="main")
    repo.config_writer().set_value("user", "name", "t").set_value("user", "email", "t@example.org").release()
    for key, text in FILES.items():
        (tmp_path / "timetables" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "timetables" / key).write_text(text)
    repo.index.add(list(FILES))
    first = repo.index.commit("first").hexsha
    engine = make_engine(tmp_path / "home", cache_dir)

    def change():
        (tmp_path / "timetables/guide/fares.md").write_text("# Fares\n\nA day ticket costs 8 euros.\n")
        (tmp_path / "timetables/lost.md").write_text("# Lost property\n\nAsk at Kettle Square.\n")
        repo.index.remove(["notes.txt"], working_tree=True)
        repo.index.add(["guide/fares.md", "lost.md"])
        repo.index.commit("second")
        (tmp_path / "timetables/uncommitted.md").write_text("# Not committed, so not read\n")

    location = f"git+file://{tmp_path / 'timetables'}@main"  # a URL: read through a mirror, fetched each sync
    assert resync(engine, location, change) == {"added": ["timetables/lost.md"],
                                                "changed": ["timetables/guide/fares.md"],
                                                "deleted": ["timetables/notes.txt"]}
    hits = {h.doc_id: h for h in engine.search("rear doors prams", "bm25", 1).hits}
    assert hits["timetables/guide/boarding.md"].metadata["commit"] == first  # unchanged since the first commit
    assert (tmp_path / "home/sources/git").is_dir()
    local = list(remote_source(f"git+{tmp_path / 'timetables'}", None, max_bytes=10**6, cache=tmp_path).documents())
    assert sorted(d.doc_id for d in local) == ["timetables/guide/boarding.md", "timetables/guide/fares.md",
                                               "timetables/lost.md"]


class Site(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; the paths in `failing` answer 500."""

    failing: set[str] = set()

    def do_GET(self):
        if self.path in self.failing:
            self.send_error(500, "backend down")
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@contextmanager
def website(root: Path):
    def handler(*a, **kw):
        return Site(*a, directory=str(root), **kw)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def page(title: str, body: str, links=()) -> str:
    anchors = "".join(f'<a href="{href}">{href}</a> ' for href in links)
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p>{anchors}</body></html>"


def write_site(root: Path) -> None:
    (root / "docs/private").mkdir(parents=True)
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /docs/private/\n")
    (root / "docs/index.html").write_text(page("Varnholt transit", "Start here.",
                                               ["boarding.html", "fares.html#top", "private/pay.html", "/other.html",
                                                "http://example.invalid/away.html"]))
    (root / "docs/boarding.html").write_text(page("Boarding", "Rear doors open for prams.", ["index.html"]))
    (root / "docs/fares.html").write_text(page("Fares", "A day ticket costs 7 euros."))
    (root / "docs/private/pay.html").write_text(page("Pay", "Salaries are secret."))
    (root / "other.html").write_text(page("Outside", "Not under the start path."))


def test_website_crawl_honours_robots_host_and_path(tmp_path, cache_dir):
    write_site(tmp_path / "site")
    engine = make_engine(tmp_path / "home", cache_dir)
    with website(tmp_path / "site") as base:
        start = f"{base}/docs/index.html"

        def change():
            (tmp_path / "site/docs/fares.html").write_text(page("Fares", "A day ticket costs 8 euros."))
            (tmp_path / "site/docs/boarding.html").unlink()
            (tmp_path / "site/docs/lost.html").write_text(page("Lost property", "Ask at Kettle Square."))
            index = (tmp_path / "site/docs/index.html")
            index.write_text(index.read_text().replace("boarding.html", "lost.html"))

        # the start page changed too: its link to boarding.html now points at lost.html
        plan = resync_web(engine, start, change)
        assert plan == {"added": [f"{base}/docs/lost.html"], "changed": [f"{base}/docs/fares.html",
                                                                      f"{base}/docs/index.html"],
                        "deleted": [f"{base}/docs/boarding.html"]}
        assert found(engine, "day ticket euros") == [f"{base}/docs/fares.html"]
        assert not found(engine, "salaries secret")
        limited = list(WebSource(start, 10**6, max_pages=2).documents())
        assert len(limited) == 3 and isinstance(limited[-1], Partial)  # two pages, and that it stopped short


def resync_web(engine, start: str, change) -> dict[str, list[str]]:
    first = engine.ingest([start])  # not private/ (robots.txt), /other.html (outside the start path), nor another host
    assert sorted(first.plan["added"]) == sorted(f"{start.rsplit('/', 1)[0]}/{p}" for p in
                                                 ("boarding.html", "fares.html", "index.html"))
    change()
    plan = engine.ingest([start], dry_run=True)
    engine.ingest([start])
    return {k: sorted(v) for k, v in plan.plan.items()}


def test_website_sitemap(tmp_path, cache_dir):
    write_site(tmp_path / "site")
    with website(tmp_path / "site") as base:
        (tmp_path / "site/sitemap.xml").write_text(
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{base}/docs/fares.html</loc></url><url><loc>{base}/docs/private/pay.html</loc></url>"
            "</urlset>")
        docs = list(remote_source(f"{base}/sitemap.xml", None, max_bytes=10**6, cache=tmp_path).documents())
    assert [d.doc_id for d in docs] == [f"{base}/docs/fares.html"]  # pay.html: disallowed by robots.txt
    assert docs[0].title == "Fares" and docs[0].metadata["url"] == f"{base}/docs/fares.html"



def test_a_page_that_fails_keeps_its_last_version_and_a_gone_one_is_deleted(tmp_path, cache_dir, monkeypatch):
    write_site(tmp_path / "site")
    engine = make_engine(tmp_path / "home", cache_dir)
    with website(tmp_path / "site") as base:
        start = f"{base}/docs/index.html"
        engine.ingest([start])
        monkeypatch.setattr(Site, "failing", {"/docs/fares.html"})
        (tmp_path / "site/docs/boarding.html").unlink()  # 404
        report = engine.ingest([start])
    assert report.plan["deleted"] == [f"{base}/docs/boarding.html"] and not report.plan["changed"]
    [failure] = report.failures
    assert failure.doc_id == f"{base}/docs/fares.html" and "HTTP 500" in failure.reason
    assert found(engine, "day ticket euros") == [f"{base}/docs/fares.html"]  # its last good version serves
