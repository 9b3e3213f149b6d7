"""Embedding cache keyed by (model id, sha256 of the text): re-ingesting and re-evaluating embed nothing twice."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from ragship.embed.base import Embedder
from ragship.errors import ModelNotAvailable
from ragship.fsio import database_error

log = logging.getLogger("ragship.embed")
RECENT_QUERIES = 1024  # query vectors kept in memory (1.5 MB at 384 dimensions)
KEPT_QUERIES = 20_000  # and on disk, per cache file (30 MB at 384 dimensions), for other processes of the home,
KEPT_QUERY_S = 86_400  # for a day at most: a conversation's context, not a second record of what each key asked
# Whose queries these are (the server: the caller's key). Recent query vectors are kept per scope: a vector found
# in memory answers in microseconds, so a shared memory would tell any caller which exact questions others asked.
QUERY_SCOPE: ContextVar[str] = ContextVar("ragship_query_scope", default="")


@contextmanager
def query_scope(scope: str | None):
    """Queries embedded in this block (and the threads and tasks it starts) share recent vectors with `scope`'s
    only."""
    token = QUERY_SCOPE.set(scope or "")
    try:
        yield
    finally:
        QUERY_SCOPE.reset(token)


class EmbeddingCache:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: several processes (Ray workers) may share one cache file; SQLite serialises their writes
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # a cache: a power cut may lose the last vectors, no more
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (model TEXT, key BLOB, vector BLOB, PRIMARY KEY (model, key))"
                " WITHOUT ROWID"
            )
            # query vectors by scope (QUERY_SCOPE): the turns of a conversation that another worker of the home, or
            # this one before a restart, encoded; one scope never reads another's
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS queries (scope TEXT, model TEXT, key BLOB, vector BLOB, at INTEGER,"
                " PRIMARY KEY (scope, model, key)) WITHOUT ROWID"
            )
        except sqlite3.DatabaseError as e:  # not a database, or a malformed one; a lock timeout passes through
            raise database_error(path, e) from None
        self._lock = threading.Lock()
        self._query_writes = 0

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode()).digest()

    def get_many(self, model: str, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
                part = keys[i:i + 500]
                rows = self._db.execute(
                    f"SELECT key, vector FROM embeddings WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                    [model, *part],
                )
                found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return found

    def put_many(self, model: str, items: list[tuple[bytes, np.ndarray]]) -> None:
        """Best effort: on a full or read-only disk the vectors are simply not cached (and embedded next time)."""
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                    [(model, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items],
                )
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as e:  # "database or disk is full", "attempt to write a readonly..."
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                log.warning("embedding cache: %d vectors not cached (%s)", len(items), e)

    def get_queries(self, scope: str, model: str, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The query vectors `scope` encoded before, in any process of the home."""
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._db.execute(f"SELECT key, vector FROM queries WHERE scope = ? AND model = ? AND at > ? AND "
                                    f"key IN ({marks})", [scope, model, _since(KEPT_QUERY_S), *keys]).fetchall()
        return {k: np.frombuffer(v, dtype=np.float32) for k, v in rows if len(v) % 4 == 0}  # else torn: encoded again

    def put_queries(self, scope: str, model: str, items: list[tuple[bytes, np.ndarray]]) -> None:
        """Best effort, as put_many; every 1,000th write drops those older than KEPT_QUERY_S and the oldest beyond
        KEPT_QUERIES."""
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO queries VALUES (?, ?, ?, ?, ?)",
                                     [(scope, model, k, np.asarray(v, dtype=np.float32).tobytes(), time.time_ns())
                                      for k, v in items])
                self._query_writes += len(items)
                if self._query_writes >= 1000:
                    self._query_writes = 0
                    self._db.execute("DELETE FROM queries WHERE at <= ? OR at < (SELECT at FROM queries ORDER BY at "
                                     "DESC LIMIT 1 OFFSET ?)", (_since(KEPT_QUERY_S), KEPT_QUERIES - 1))
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                log.warning("embedding cache: %d query vectors not kept (%s)", len(items), e)

    def close(self) -> None:
        self._db.close()


def _since(seconds: float) -> int:
    return time.time_ns() - int(seconds * 1e9)


class CachedEmbedder(Embedder):
    """An Embedder that looks every text up in the cache first; `embedded` counts texts it actually embedded."""

    encoder: dict | None = None  # the encoder path and how it was chosen (embed/factory.py), for status

    def __init__(self, inner: Embedder, cache: EmbeddingCache):
        self.inner, self.cache = inner, cache
        self.embedded = 0
        # (scope, query text) -> vector, least recent first
        self._recent: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:  # type: ignore[override]  # the inner model's, read through: never set here
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def path(self) -> str:
        """Where the inner model's weights are (for trainers that start from them)."""
        path = getattr(self.inner, "path", None)  # every encoder path's has one; the Protocol asks for none
        if not isinstance(path, str):
            raise ModelNotAvailable(f"{self.model_id}: no local weights to train from")
        return path

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        keys = [EmbeddingCache.key(t) for t in texts]
        found = self.cache.get_many(self.model_id, list(set(keys)))
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            first_text: dict[bytes, str] = {}
            for k, t in zip(keys, texts):
                first_text.setdefault(k, t)
            vectors = self.inner.embed_batch([first_text[k] for k in missing])
            self.cache.put_many(self.model_id, list(zip(missing, vectors)))
            found.update(zip(missing, vectors))
            self.embedded += len(missing)
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, self.dim), dtype=np.float32)

    def query_encoder(self) -> str:
        """Where single queries are encoded (for `ragship status`)."""
        describe = getattr(self.inner, "query_encoder", None)
        return describe() if describe else f"{type(self.inner).__name__}.embed_query"

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """embed_query for several texts: the recent ones from memory, the others encoded in one call (a
        conversation another worker held, or one from before a restart, costs one batch, not a query per turn)."""
        scope = QUERY_SCOPE.get()
        with self._lock:
            found = {t: self._recent[scope, t].copy() for t in texts if (scope, t) in self._recent}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            found.update(self._encoded(scope, missing))
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def _encoded(self, scope: str, texts: list[str]) -> dict[str, np.ndarray]:
        """Vectors of queries not in memory: kept on disk by another process of the home (or this one before a
        restart), else encoded in one call and kept; all of them remembered."""
        keys = {t: EmbeddingCache.key(t) for t in texts}
        kept = self.cache.get_queries(scope, self.model_id, list(keys.values()))
        vectors = {t: kept[keys[t]] for t in texts if len(kept.get(keys[t], ())) == self.dim}  # a torn write: again
        new = [t for t in texts if t not in vectors]
        if new:
            encoded = self.inner.embed_queries(new) if len(new) > 1 else self.inner.embed_query(new[0])[None]
            vectors.update(zip(new, encoded))
            self.cache.put_queries(scope, self.model_id, [(keys[t], vectors[t]) for t in new])
        with self._lock:
            for t in texts:
                self._remember((scope, t), vectors[t])
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """Recent queries' vectors are kept in memory, and on disk for the home's other processes: a conversation
        searches its earlier questions again with each follow-up, and an answer scores its sentences against the
        question just searched. Each scope (QUERY_SCOPE) finds only its own."""
        key = (QUERY_SCOPE.get(), text)
        with self._lock:
            vector = self._recent.get(key)
            if vector is not None:
                self._recent.move_to_end(key)
                return vector.copy()
        return self._encoded(key[0], [text])[text].copy()

    def _remember(self, key: tuple[str, str], vector: np.ndarray) -> None:
        """Keep a query's vector among the recent ones (the caller holds the lock)."""
        self._recent[key] = vector.copy()
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_QUERIES:
            self._recent.popitem(last=False)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)
