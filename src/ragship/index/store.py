"""LanceDB storage for chunks. Writers change the table head; readers only ever open a tagged version, so a
half-written ingest is invisible to them, and the next writer rolls the head back to the live version first."""

from __future__ import annotations

from datetime import timedelta
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa

from ragship.errors import REPAIR, IndexNotReady, HomeFileDamaged
from ragship.index.integrity import checksums, damaged, disk_use, total_bytes
from ragship.index.view import FTS_COLUMN, IndexView
from ragship.util.sql import quote

TABLE = "chunks"
PARTITION_ROWS = 65_536  # rows per IVF partition of the vector index (build_vector_index)


def schema(dim: int) -> pa.Schema:
    return pa.schema([
        ("chunk_id", pa.string()),
        ("doc_id", pa.string()),
        ("doc_hash", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        (FTS_COLUMN, pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("heading_path", pa.list_(pa.string())),
        ("metadata", pa.string()),  # JSON object
        ("groups", pa.list_(pa.string())),  # who may read it: empty = everyone (document-level permissions)
        ("tags", pa.list_(pa.string())),  # "key=value" of each metadata value, for filters
        ("vector", pa.list_(pa.float32(), dim)),
    ])


class ChunkStore:
    """The writable chunks table (its head) and the tags that mark versions, in a local folder or on an object
    store (`index.uri`; Lance commits by conditional PUT, so concurrent writers never lose a commit: ADR 0016)."""

    def __init__(self, location: Path | str):
        import lancedb

        self.location, self.remote = str(location), "://" in str(location)
        self.path = None if self.remote else Path(location)  # local only: the disk's free space
        self.table_uri = f"{self.location.rstrip('/')}/{TABLE}.lance"
        self._db = lancedb.connect(self.location)

    def exists(self) -> bool:
        return TABLE in self._db.list_tables().tables

    def table(self, dim: int | None = None):
        if self.exists():
            try:
                table = self._db.open_table(TABLE)
            except (RuntimeError, OSError, ValueError) as e:  # Lance cannot read the newest manifest
                raise HomeFileDamaged(f"{self.table_uri} cannot be opened ({str(e).splitlines()[0][:160]}): its newest "
                                   f"manifest (_versions/) is damaged; {REPAIR}") from None
            return _current(table, self.table_uri)
        if dim is None:
            raise FileNotFoundError(f"no chunks table in {self.location}")
        return self._db.create_table(TABLE, schema=schema(dim))

    def newest_manifest(self) -> Path | None:
        """The manifest of the table's newest Lance version (a local table): names count down from 2^64 - 1 in
        Lance's v2 layout, up from 1 in the v1 layout."""
        files = list((Path(self.table_uri) / "_versions").glob("*.manifest")) if self.path else []
        numbers = {int(p.stem): p for p in files if p.stem.isdigit()}
        if not numbers:
            return None
        return numbers[min(numbers)] if min(numbers) > 2 ** 63 else numbers[max(numbers)]

    def set_aside(self, manifest: Path, folder: Path) -> Path:
        """Move a damaged manifest (and Lance's latest-version hint, which may name it) into `folder`: the table
        then opens at the version before it. Nothing is deleted."""
        folder.mkdir(parents=True, exist_ok=True)
        hint = manifest.parent / "latest_version_hint.json"
        if hint.exists():
            hint.replace(folder / f"{manifest.stem}.latest_version_hint.json")
        return manifest.replace(folder / manifest.name)

    def head_version(self) -> int | None:
        return self.table().version if self.exists() else None

    def reset_head(self, lance_version: int | None) -> None:
        """Discard writes after the live version (from an ingest that crashed or failed)."""
        if not self.exists():
            return
        table = self.table()
        if lance_version is None:
            if table.count_rows():
                table.delete("true")
        elif table.version != lance_version:
            table.restore(lance_version)

    def doc_states(self, lance_version: int | None) -> dict[str, tuple[str, str]]:
        """{doc_id: (content hash, source)} of every document in a version."""
        if lance_version is None or not self.exists():
            return {}
        table = self.table()
        table.checkout(lance_version)
        cols = table.search().select(["doc_id", "doc_hash", "source"]).limit(None).to_arrow()
        return dict(zip(cols["doc_id"].to_pylist(), zip(cols["doc_hash"].to_pylist(), cols["source"].to_pylist())))

    def delete_docs(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        if not ids:
            return
        table = self.table()
        for i in range(0, len(ids), 1000):
            table.delete(f"doc_id IN ({', '.join(quote(d) for d in ids[i:i + 1000])})")

    def replace_all(self, rows: pa.Table, dim: int, batch: int = 10_000) -> None:
        """The head holds exactly `rows` (an import): every row deleted, these added in batches."""
        table = self.table(dim)
        if table.count_rows():
            table.delete("true")
        for start in range(0, rows.num_rows, batch):
            table.add(rows.slice(start, batch).cast(schema(dim)))

    def add(self, rows: list[dict[str, Any]], dim: int) -> None:
        for r in rows:  # no groups means readable by everyone: an empty list, never null (SQL null matches nothing)
            r["groups"], r["tags"] = r.get("groups") or [], r.get("tags") or []
        if rows:
            self.table(dim).add(pa.Table.from_pylist(rows, schema=schema(dim)))

    def build_fts(self, stem: bool = True, stop_words: bool = True) -> None:
        """LanceDB's native BM25 index on the head; by default with English stemming and stop words, like the
        bm25s reference (ADR 0002). `search.bm25_*` choose (`SearchSettings.fts_params`)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # create_fts_index is marked deprecated but is the documented call
            self.table().create_fts_index(FTS_COLUMN, replace=True, language="English", stem=stem,
                                          remove_stop_words=stop_words, lower_case=True, ascii_folding=True)

    @contextmanager
    def trial_fts(self, lance_version: int, fts: dict[str, bool]) -> Iterator[IndexView]:
        """The head with the full-text index rebuilt with `fts` (see build_fts), uncommitted: scratch space no
        query sees (queries open tags); reset to `lance_version` afterwards. The caller holds the writer lock."""
        try:
            self.build_fts(**fts)
            yield IndexView(self.table())
        finally:
            self.reset_head(lance_version)

    def build_vector_index(self, min_rows: int) -> bool:
        """An IVF_HNSW_SQ index on the vectors once the table holds `min_rows` rows (below that, exact flat
        search is fast enough and exact). Rebuilt at each changing ingest; returns whether one was built. Large
        partitions (each an HNSW graph, searched in ~log time): few graphs to probe (ADR 0016 §5)."""
        table = self.table()
        rows = table.count_rows()
        if rows < min_rows:
            return False
        table.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ",
                           num_partitions=max(1, rows // PARTITION_ROWS), replace=True)
        return True

    def commit_tag(self, tag: str) -> int:
        """Tag the head as a version and return its LanceDB version number."""
        table = self.table()
        version = table.version
        if tag in table.tags.list():  # left by a run that crashed before recording it: not a real version
            table.tags.delete(tag)
        table.tags.create(tag, version)
        return version

    def tags(self) -> dict[str, int]:
        """{tag: Lance version}."""
        return {name: t["version"] for name, t in self.table().tags.list().items()}

    def lance_versions(self) -> set[int]:
        """The Lance versions whose manifests still exist (a tag can only point at one of these)."""
        return {v["version"] for v in self.table().list_versions()}

    def retag(self, tag: str, lance_version: int) -> None:
        """Point `tag` at `lance_version` (`doctor --repair`: a deleted or moved tag)."""
        table = self.table()
        if tag in table.tags.list():
            table.tags.delete(tag)
        table.tags.create(tag, lance_version)

    def delete_tag(self, tag: str) -> None:
        table = self.table()
        if tag in table.tags.list():
            table.tags.delete(tag)

    def reclaim(self) -> dict[str, int]:
        """Delete the files only untagged versions use (every version stays reachable by its tag); files a
        running write has not committed yet are left alone (Lance's `delete_unverified` is off)."""
        import lance

        if not self.exists():
            return {"bytes_removed": 0, "old_versions": 0}
        stats = lance.dataset(self.table_uri).cleanup_old_versions(
            older_than=timedelta(0), error_if_tagged_old_versions=False)
        return {"bytes_removed": stats.bytes_removed, "old_versions": stats.old_versions}

    def disk_bytes(self) -> int:
        return total_bytes(self.location)

    def disk_use(self, tags: Iterable[str]) -> dict[str, dict[str, int]]:
        """Per tag: the bytes its version reads and the bytes no other of `tags` reads (index/integrity.py)."""
        return disk_use(self.table_uri, tags) if self.exists() else {}

    def checksums(self, tag: str, known: Mapping[str, str]) -> dict[str, str]:
        """{file: "size:blake2b"} of the files the tagged version reads (index/integrity.py)."""
        return checksums(self.table_uri, tag, known)

    def damaged(self, sums: Mapping[str, str], deep: bool = True) -> list[str]:
        return damaged(self.table_uri, sums, deep)  # the files of a version that no longer match its record

    def view(self, tag: str, nprobes: int = 8, refine_factor: int = 1, lance_version: int | None = None) -> IndexView:
        """The tagged version, read-only; by its Lance version (when given) if the tag itself was lost."""
        table = self.table()
        try:
            table.checkout(tag)
        except ValueError:  # "Version v2 no longer exists": the tag is gone (`doctor --repair` recreates it)
            if lance_version is None:
                raise
            try:
                table.checkout(lance_version)
            except ValueError:
                raise HomeFileDamaged(f"index version {tag} cannot be opened: its Lance version {lance_version} has "
                                   f"no manifest in {self.table_uri}/_versions; {REPAIR}") from None
        return IndexView(table, nprobes, refine_factor, version_id=tag)


def _current(table, path: str):
    """The table, if it has every column this ragship writes; else a clear error instead of a failed write."""
    names = set(table.schema.names)
    if "chunk_id" not in names:  # no schema at all: the manifest decoded to nothing
        raise HomeFileDamaged(f"{path} cannot be opened (its newest manifest has no schema): the manifest (_versions/) "
                           f"is damaged; {REPAIR}")
    missing = {"groups", "tags"} - names
    if missing:
        raise IndexNotReady(f"the index in {path} was built by an older ragship (no {', '.join(sorted(missing))} "
                            "column); move that index/ folder aside and ingest again")
    return table


def metadata_tags(metadata: Mapping) -> list[str]:
    """The `key=value` strings a document's metadata can be filtered on (scalars and lists of scalars)."""
    tags = []
    for key, value in metadata.items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, bool):
                tags.append(f"{key}={str(v).lower()}")
            elif isinstance(v, (str, int, float)):
                tags.append(f"{key}={v}")
    return tags
