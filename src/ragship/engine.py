"""The Engine ties settings, the data home, the embedder and the live index version together. The CLI and the
server are thin faces over it; it holds no logic of its own beyond wiring and the live-version check."""

from __future__ import annotations

import fcntl
import threading
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Iterator

from ragship.answer import Answer, Answerer
from ragship.answer.calibrate import Calibration
from ragship.embed import CachedEmbedder
from ragship.embed.factory import make_embedder
from ragship.errors import ConfigError, DocumentNotFound, IndexNotReady, InputError
from ragship.fsio import atomic_write_json, read_json
from ragship.index import ChunkStore, IndexView, VersionRegistry
from ragship.ingest.dead_letter import DeadLetter
from ragship.index.tombstones import Tombstones
from ragship.ingest.pipeline import IngestReport, Observer, ingest, remove
from ragship.ingest.sources import Source, open_sources
from ragship.monitor import metrics
from ragship.retrieve.filters import Filter
from ragship.retrieve.search import Searcher, SearchResult
from ragship.settings import Settings


class Engine:
    def __init__(self, settings: Settings, embedder: CachedEmbedder | None = None):
        self.settings = settings
        self.home = Path(settings.home)
        self.cache_dir = Path(settings.cache_dir or self.home / "cache")
        self.registry = VersionRegistry(self.home / "index")
        self._embedder = embedder  # shared between collections with the same model
        self._view: tuple[float, IndexView] | None = None
        self._calibration: tuple[tuple[Path, float], Calibration] | None = None
        self._llm = None
        self._reranker = None
        self._lock = threading.Lock()
        # deleted documents, hidden by every search: one object, so its cache spares a file read per query
        self.tombstones = Tombstones(self.home / "index" / "tombstones.json")

    # -- parts, built lazily ------------------------------------------------------------------------------------
    @property
    def embedder(self) -> CachedEmbedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings.embed, self.cache_dir)
        return self._embedder

    def store(self) -> ChunkStore:
        return ChunkStore(self.home / "index" / "lance")

    def view(self) -> IndexView:
        """The live index version, reopened whenever the live pointer moves."""
        stamp = self.registry.live_stamp()
        with self._lock:
            if self._view is None or self._view[0] != stamp:
                live = self.registry.live()
                if live is None:
                    raise IndexNotReady(f"no index in {self.home}; run `ragship ingest PATH` first")
                if live.model_id != self.embedder.model_id:
                    raise ConfigError(
                        f"live index {live.id} was built with {live.model_id} but embed.model resolves to "
                        f"{self.embedder.model_id}; re-ingest, or set embed.model (and embed.precision) back"
                    )
                s = self.settings.search
                self._view = (stamp, self.store().view(live.id, s.ann_nprobes, s.ann_refine_factor))
            return self._view[1]

    def searcher(self) -> Searcher:
        return Searcher(self.view(), self.embedder, self.settings.search, self.reranker, self.settings.rerank.top_n)

    @property
    def reranker(self):
        """The configured cross-encoder (loaded on first use), or None: reranking is off by default."""
        if self._reranker is None and self.settings.rerank.model:
            from ragship.retrieve.rerank import CrossEncoderReranker

            self._reranker = CrossEncoderReranker(self.settings.rerank.model, self.settings.rerank.batch_size)
        return self._reranker

    def warm_up(self) -> None:
        """Load the models and open the live version now, so the first request does not pay for it."""
        self.embedder.embed_query("warm up")
        if self.reranker is not None:
            self.reranker.scores("warm up", ["warm up"])
        if self.registry.live() is not None:
            self.view()

    # -- operations ---------------------------------------------------------------------------------------------
    @property
    def dead_letter(self) -> DeadLetter:
        return DeadLetter(self.home / "dead_letter.json")

    def ingest(self, paths: list[Path], observe: Observer | None = None, *, dry_run: bool = False,
               retry_failed: bool = False, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
               engine: str = "local", ray_address: str | None = None, groups: tuple[str, ...] = ()) -> IngestReport:
        """Ingest paths (or, with retry_failed, the dead-letter entries) and record what failed."""
        if retry_failed:
            sources = self.dead_letter.retry_sources(self.settings)
            if not sources:
                raise InputError("no failed inputs to retry; `ragship status` lists failures")
        else:
            sources = open_sources(paths, self.settings, include, exclude, groups)
        return self._ingest(paths, sources, observe, dead_letter=True, dry_run=dry_run, use_ray=engine == "ray",
                            ray_address=ray_address)

    def _ingest(self, paths: list[Path], sources: list[Source], observe: Observer | None, dead_letter: bool,
                **options) -> IngestReport:
        """One writer at a time; a real run is counted, reported to `status`, and (for paths the user named)
        its failures kept for --retry-failed."""
        with self.exclusive():
            self.embedder.embedded = 0
            report = ingest(paths, settings=self.settings, embedder=self.embedder, store=self.store(),
                            registry=self.registry, observe=observe, sources=sources, **options)
            if not options.get("dry_run"):
                metrics.record_ingest(report)
                if dead_letter:
                    self.dead_letter.record(sources, report.failures)
                atomic_write_json(self.home / "last_ingest.json", report.to_dict())
            return report

    def search(self, query: str, mode: str | None = None, k: int | None = None, filter: Filter | None = None,
               mmr: float | None = None) -> SearchResult:
        """`filter`: the reader's permission groups and metadata filters, applied inside the index queries
        (deleted documents are always hidden)."""
        return self.searcher().search(query, mode, k, self._visible(filter), mmr)

    def _visible(self, filter: Filter | None) -> Filter:
        return (filter or Filter()).hiding(self.tombstones.ids())

    # -- documents ----------------------------------------------------------------------------------------------
    @property
    def uploads(self) -> Path:
        return self.home / "uploads"

    def documents(self, filter: Filter | None = None) -> list[dict[str, Any]]:
        """The live version's documents that `filter` lets its reader see."""
        view, flt = self.view(), self._visible(filter)
        return view.documents(flt.mask(view.memory.columns))

    def document(self, doc_id: str, filter: Filter | None = None) -> dict[str, Any]:
        """One visible document with its text; DocumentNotFound otherwise (the same error whether it does not
        exist or the reader may not see it)."""
        found = self.view().document(doc_id, self._visible(filter).sql())
        if found is None:
            raise DocumentNotFound("no such document among those you can read; `GET /v1/documents` lists them")
        return found

    def delete_documents(self, doc_ids: list[str]) -> IngestReport:
        """Hidden from every version at once, then a new live version without them; uploaded files removed."""
        self.tombstones.add(doc_ids)
        for doc_id in doc_ids:
            path = self.upload_path(doc_id)
            if path is not None:
                path.unlink(missing_ok=True)
        with self.exclusive():
            return remove(doc_ids, settings=self.settings, embedder=self.embedder, store=self.store(),
                          registry=self.registry)

    def upload_path(self, doc_id: str) -> Path | None:
        """The stored file of an uploaded document (doc id "uploads/NAME"), else None."""
        prefix = f"{self.uploads.name}/"
        return self.uploads / doc_id[len(prefix):] if doc_id.startswith(prefix) and "/" not in doc_id[len(prefix):] \
            else None

    def ingest_upload(self, path: Path, groups: tuple[str, ...] = (), observe: Observer | None = None) -> IngestReport:
        """Ingest one file stored in the uploads folder (doc id "uploads/NAME") with the given readers."""
        source = Source(self.uploads, int(self.settings.ingest.max_file_mb * 1e6), only=frozenset({str(path)}),
                        settings=self.settings, groups=tuple(sorted(set(groups))))
        self.tombstones.clear([f"{self.uploads.name}/{path.name}"])
        return self._ingest([], [source], observe, dead_letter=False)  # the job reports its failures

    def ask(self, question: str, mode: str | None = None, filter: Filter | None = None) -> Answer:
        context = partial(self.context, filter=filter)
        result = context(question, mode)
        answer = self.answerer().answer(result.query, result, context)
        metrics.record_answer(answer.abstained)
        return answer

    def ask_stream(self, question: str, mode: str | None = None, filter: Filter | None = None) -> Iterator[dict]:
        context = partial(self.context, filter=filter)
        result = context(question, mode)
        for event in self.answerer().stream(result.query, result, context):
            if event["type"] == "answer":
                metrics.record_answer(event["answer"]["abstained"])
            yield event

    def context(self, question: str, mode: str | None = None, filter: Filter | None = None) -> SearchResult:
        return self.search(question, mode, max(self.settings.answer.context_chunks, 3), filter)

    def answerer(self) -> Answerer:
        return Answerer(self.embedder, self.settings.answer, self.calibration(), self.generator())

    def generator(self):
        """The configured LLM generator, or None for extractive answers."""
        if self.settings.answer.generator != "openai":
            return None
        if self._llm is None:
            from ragship.answer.openai import OpenAIClient, OpenAIGenerator

            a = self.settings.answer
            self._llm = OpenAIGenerator(OpenAIClient(a.llm), a.max_sentences, tuple(a.allowed_link_hosts))
        return self._llm

    # -- calibration, stored with the index version it was fitted on ---------------------------------------------
    def calibration_path(self, version: str) -> Path:
        return self.home / "index" / "calibration" / f"{version}.json"

    def calibration(self) -> Calibration | None:
        """The calibration fitted on the live version, else the newest one fitted on an earlier version."""
        live = self.registry.live()
        folder = self.home / "index" / "calibration"
        path = self.calibration_path(live.id) if live else None
        if path is None or not path.exists():
            found = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
            path = found[-1] if found else None
        if path is None:
            return None
        stamp = (path, path.stat().st_mtime)
        if self._calibration is None or self._calibration[0] != stamp:
            self._calibration = (stamp, Calibration.load(path))
        return self._calibration[1]

    def status(self) -> dict[str, Any]:
        live = self.registry.live()
        last = read_json(self.home / "last_ingest.json", default={})
        return {
            "home": str(self.home.resolve()),
            "live_version": live.id if live else None,
            "documents": live.counts["documents"] if live else 0,
            "chunks": live.counts["chunks"] if live else 0,
            "built_at": live.created_at if live else None,
            "model": live.model_id if live else None,
            "query_encoder": self._query_encoder(),
            "versions": [v.id for v in self.registry.all()],
            "settings": self.settings.model_dump(mode="json", exclude={"home", "cache_dir"}),
            "reranker": (f"{self.reranker.model_id} (top {self.settings.rerank.top_n})" if self.reranker else
                         "off: no cross-encoder configured (set rerank.model, or train one: ragship adapt --reranker)"),
            "generator": self.settings.answer.generator,
            "calibration": self._calibration_status(live),
            "last_ingest": {k: last.get(k) for k in ("added", "changed", "deleted", "unchanged", "failed")} if last
            else None,
            "failures": [{"path": path, **entry} for path, entry in self.dead_letter.entries().items()],
        }

    def _query_encoder(self) -> str:
        describe = getattr(self.embedder.inner, "query_encoder", None)
        return describe() if describe else f"the {self.settings.embed.backend} backend's own"

    def _calibration_status(self, live) -> dict[str, Any] | None:
        c = self.calibration()
        if c is None:
            return None
        return {"fitted_on": c.fitted_on, "threshold": c.threshold, "validation": {
            k: v for k, v in c.validation.items() if k != "reliability"},
            "current": bool(live) and c.fitted_on.get("version") == live.id}

    @contextmanager
    def exclusive(self):
        """One writer per home: a second concurrent ingest fails fast instead of interleaving commits."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "ingest.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"another ingest is running on {self.home}; wait for it to finish") from None
            yield
