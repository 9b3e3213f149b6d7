"""Sources beyond a local folder: an S3 prefix, a Git repository (the files of a branch's commit), and a website
(a sitemap, or same-host crawling from a start page, robots.txt honoured, at most `max_pages`).

Each yields Documents like a folder does, so a re-sync plans exactly what changed (added, changed, deleted)
against the live version. A source that cannot be listed yields one Failure without a document id, which holds
back deletions from it: an outage never empties the index."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator
from urllib.parse import urldefrag, urljoin, urlsplit

from ragship.ingest.document import make_document, too_big, wanted
from ragship.ingest.parsers import readable
from ragship.types import Document, Failure, Partial

USER_AGENT = "ragship"
MAX_CRAWL_DELAY_S = 10.0
WEB_TYPES = {"text/html": ".html", "application/xhtml+xml": ".html", "application/pdf": ".pdf",
             "text/plain": ".txt", "text/markdown": ".md"}


@dataclass(frozen=True)
class Item:
    """One file of a remote source: its path inside the source (its suffix picks the parser), its document id,
    where it is (for a Failure), its size when known, and how to read it."""

    relative: str
    doc_id: str
    where: str
    read: Callable[[], bytes]
    size: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteSource:
    location: str
    max_bytes: int
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    ocr: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    only: frozenset[str] | None = None  # a retry re-reads the whole source
    errors: tuple[type[BaseException], ...] = (OSError,)  # what listing raises when the source is unreachable

    @property
    def root(self) -> str:
        return self.location

    @property
    def complete(self) -> bool:
        return True

    def exists(self) -> bool:
        return True  # an unreachable source yields a Failure instead

    def wanted(self, relative: str) -> bool:
        return wanted(relative, self.include, self.exclude) and readable(PurePosixPath(relative), self.ocr)

    def estimate(self) -> int:
        return 0  # unknown until listed

    def items(self) -> Iterator[Item | Partial]:
        raise NotImplementedError

    def documents(self) -> Iterator[Document | Failure | Partial]:
        try:
            for item in self.items():
                yield item if isinstance(item, Partial) else self._document(item)
        except self.errors as e:
            yield Failure(self.location, f"cannot list the source ({type(e).__name__}: {e}); check the location "
                                         "and credentials; nothing was deleted")

    def _document(self, item: Item) -> Document | Failure:
        if item.size is not None and item.size > self.max_bytes:
            return Failure(item.where, too_big(item.size, self.max_bytes), item.doc_id)
        try:
            data = item.read()
        except self.errors as e:
            return Failure(item.where, f"cannot read ({type(e).__name__}: {e})", item.doc_id)
        return make_document(data, item.relative, doc_id=item.doc_id, root=self.root, where=item.where,
                             metadata={**self.metadata, **item.metadata}, groups=self.groups, ocr=self.ocr)


@dataclass(frozen=True)
class S3Source(RemoteSource):
    """Objects under s3://bucket/prefix, read with boto3 (endpoint and credentials from the environment, as any
    S3 client reads them). The document id is the object's URI."""

    def items(self) -> Iterator[Item]:
        import boto3

        bucket, _, prefix = self.location.removeprefix("s3://").partition("/")
        prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        client = boto3.client("s3")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key, uri = obj["Key"], f"s3://{bucket}/{obj['Key']}"
                if key.endswith("/") or not self.wanted(key[len(prefix):]):
                    continue

                def read(key: str = key) -> bytes:
                    return client.get_object(Bucket=bucket, Key=key)["Body"].read()

                yield Item(key[len(prefix):], uri, uri, read, obj["Size"], {"url": uri})


@dataclass(frozen=True)
class GitSource(RemoteSource):
    """The files of a branch's head commit (not a working tree): git+/path/to/repo reads a local repository,
    git+URL keeps a mirror under HOME/sources/git and fetches it on every sync. A document's metadata holds the
    commit that last changed it (so an unchanged file stays unchanged) and the commit read."""

    branch: str | None = None
    cache: Path | None = None

    @property
    def name(self) -> str:
        return re.sub(r"\.git$", "", self.url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]) or "repo"

    @property
    def url(self) -> str:
        return self.location.removeprefix("git+")

    def items(self) -> Iterator[Item]:
        from gitdb.exc import BadName, BadObject

        repo = self._repo()
        try:
            commit = repo.commit(self.branch or "HEAD")
        except (BadName, BadObject):
            raise ValueError(f"no branch {self.branch or 'HEAD'!r} in {self.url}; check the branch of its "
                             "[[sources]] entry (or the @branch of the location)") from None
        blobs = [b for b in commit.tree.traverse() if b.type == "blob" and self.wanted(b.path)]
        changed_in = _last_changes(repo, commit.hexsha, {b.path for b in blobs})
        for blob in blobs:
            metadata = {"repository": self.url, "branch": self.branch or "HEAD", "git_path": blob.path,
                        "commit": changed_in.get(blob.path, commit.hexsha)}
            yield Item(blob.path, f"{self.name}/{blob.path}", f"{self.location}/{blob.path}",
                       blob.data_stream.read, blob.size, metadata)

    def _repo(self):
        import git

        local = Path(self.url).expanduser()
        if "://" not in self.url and local.exists():
            return git.Repo(local)
        mirror = (self.cache or Path(".")) / "git" / hashlib.sha256(self.url.encode()).hexdigest()[:16]
        if not mirror.exists():
            mirror.parent.mkdir(parents=True, exist_ok=True)
            return git.Repo.clone_from(self.url, mirror, mirror=True)
        repo = git.Repo(mirror)
        repo.git.remote("update", "--prune")
        return repo


def _last_changes(repo, head: str, paths: set[str]) -> dict[str, str]:
    """The commit that last changed each path, from one walk of the history (stops once all are found)."""
    found: dict[str, str] = {}
    sha = ""  # `git log --format=%H` names the commit before its paths
    for line in repo.git.log(head, "--format=%H", "--name-only", "--no-renames").splitlines():
        if re.fullmatch(r"[0-9a-f]{40}", line):
            sha = line
        elif line and line in paths and line not in found:
            found[line] = sha
            if len(found) == len(paths):
                break
    return found


@dataclass(frozen=True)
class WebSource(RemoteSource):
    """Pages of a website: the URLs of a sitemap (a location ending in .xml, sitemap indexes followed), or a
    breadth-first crawl from a start page over links to the same host and under the start path. robots.txt is
    honoured (its Disallow rules and Crawl-delay, for user agent "ragship"); at most `max_pages` are read. The
    document id is the page's URL."""

    max_pages: int = 500

    def items(self) -> Iterator[Item | Partial]:
        import httpx
        from protego import Protego

        with httpx.Client(follow_redirects=True, timeout=30, headers={"User-Agent": USER_AGENT}) as client:
            base = urlsplit(self.location)
            robots_url = f"{base.scheme}://{base.netloc}/robots.txt"
            robots_page = client.get(robots_url)
            robots = Protego.parse(robots_page.text if robots_page.status_code == 200 else "")
            delay = min(float(robots.crawl_delay(USER_AGENT) or 0), MAX_CRAWL_DELAY_S)
            yield from self._crawl(client, robots, delay)

    def _crawl(self, client, robots, delay: float) -> Iterator[Item | Partial]:
        sitemap = self.location.endswith(".xml")
        queue = list(self._sitemap(client, self.location)) if sitemap else [self.location]
        seen, fetched = set(queue), 0
        while queue and fetched < self.max_pages:
            url = queue.pop(0)
            if not robots.can_fetch(url, USER_AGENT):
                continue
            time.sleep(delay)
            response, fetched = client.get(url), fetched + 1
            if response.status_code in (404, 410):  # gone: deleted from the index
                continue
            suffix = WEB_TYPES.get(response.headers.get("content-type", "").split(";")[0].strip().lower(), "")
            page = PurePosixPath(urlsplit(url).path or "/")
            relative = f"{str(page).strip('/') or 'index'}{'' if page.suffix == suffix else suffix}"
            if response.status_code != 200:  # a failure (5xx, 403, 429): the page keeps its last good version
                yield Item(relative, url, url, _refused(response), None, {"url": url})
            elif suffix and self.wanted(relative):
                content = response.content

                def read(content: bytes = content) -> bytes:
                    return content

                yield Item(relative, url, url, read, len(content), {"url": url})
            if suffix == ".html" and not sitemap:
                for link in _links(response.text, url):
                    if link not in seen and self._inside(link):
                        seen.add(link)
                        queue.append(link)
        if queue:
            yield Partial(self.location, f"the crawl stopped at max_pages = {self.max_pages} with {len(queue)} "
                                         "page(s) not reached; their documents are kept (raise max_pages to read "
                                         "them all)")

    def _inside(self, url: str) -> bool:
        start, there = urlsplit(self.location), urlsplit(url)
        folder = start.path if start.path.endswith("/") else start.path.rsplit("/", 1)[0] + "/"
        return there.scheme in ("http", "https") and there.netloc == start.netloc and \
            (there.path or "/").startswith(folder)

    def _sitemap(self, client, url: str, depth: int = 0) -> Iterator[str]:
        """The page URLs of a sitemap (nested sitemap indexes followed three levels deep)."""
        import xml.etree.ElementTree as ET

        response = client.get(url)
        response.raise_for_status()
        root = ET.fromstring(response.content)
        for loc in root.iter():
            if loc.tag.endswith("}loc") or loc.tag == "loc":
                target = (loc.text or "").strip()
                if root.tag.endswith("sitemapindex") and depth < 3:
                    yield from self._sitemap(client, target, depth + 1)
                elif target:
                    yield urldefrag(target)[0]


def _refused(response) -> Callable[[], bytes]:
    import httpx

    def read() -> bytes:
        raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)

    return read


def _links(html: str, url: str) -> Iterator[str]:
    from bs4 import BeautifulSoup

    for a in BeautifulSoup(html, "html.parser").find_all("a", href=True):
        rel, href = a.get("rel"), a.get("href")  # rel: a list of words; href: one string (find_all asked for it)
        if rel and "nofollow" in rel:
            continue
        yield urldefrag(urljoin(url, str(href)))[0]


def remote_source(location: str, conf, *, max_bytes: int, cache: Path, **options) -> RemoteSource:
    """The source for an s3://, git+ or http(s):// location; `conf` is its [[sources]] entry (or None)."""
    common = dict(location=location.rstrip("/") if location.startswith(("s3://", "git+")) else location,
                  max_bytes=max_bytes, metadata=dict(conf.metadata) if conf else {}, **options)
    if location.startswith("s3://"):
        import botocore.exceptions

        return S3Source(**common, errors=(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError))
    if location.startswith("git+"):
        import git

        branch = conf.branch if conf and conf.branch else None
        url, _, rev = location[4:].rpartition("@")
        if url and "/" not in rev and ":" not in rev:  # git+URL@branch
            common["location"], branch = f"git+{url}", rev
        return GitSource(**common, errors=(git.GitError, OSError, ValueError), branch=branch, cache=cache)
    import httpx

    return WebSource(**common, errors=(httpx.HTTPError, ValueError, SyntaxError),
                     max_pages=conf.max_pages if conf else 500)
