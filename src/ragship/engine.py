"""The Engine holds one collection's parts (settings, home, embedder, index, ingestor, answerer) and hands them
out; the CLI and the server are faces over it. It wires and delegates: every decision lives in a stage."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, Iterator

from ragship.answer import Answer, Answerer
from ragship.answer.calibrate import Calibration, CalibrationStore
from ragship.embed import CachedEmbedder
from ragship.embed.factory import make_embedder
from ragship.errors import REPAIR, ConfigError, Forbidden, GenerationError, RagshipError, StateCorrupt
from ragship.home import Home
from ragship.index import ChunkStore, IndexVersion, IndexView, VersionRegistry
from ragship.index.tombstones import Tombstones
from ragship.ingest.build import IngestReport
from ragship.ingest.ingestor import Ingestor
from ragship.monitor import metrics
from ragship.release import Releases
from ragship.retrieve.filters import Filter
from ragship.retrieve.rerank import CrossEncoderReranker, describe_reranker
from ragship.retrieve.search import MAX_QUERY_CHARS, Searcher, SearchResult
from ragship.settings import Settings
from ragship.state import State, redact
from ragship.util.files import FileCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """The version requests read and the embedder that built it, taken together so no request mixes two."""

    version: IndexVersion
    view: IndexView
    embedder: CachedEmbedder


class Engine:
    def __init__(self, settings: Settings, embedder: CachedEmbedder | None = None, pin: str | None = None,
                 state: State | None = None):
        self.settings, self.pin = settings, pin  # pin: serve this version instead of the live one
        if state is not None:  # a collection shares its home's state store
            self.state = state
        self.home = Home(settings.home, settings.cache_dir, settings.index.uri)
        self.registry = VersionRegistry(self.home.index)
        self.tombstones = Tombstones(self.home.tombstones)  # one object: its cache spares a read per query
        self.calibrations = CalibrationStore(self.home.calibration)
        self.ingestor = Ingestor(self.home, settings, lambda: self.embedder, self.registry, self.tombstones,
                                 on_report=self._ingested)
        self._embedder = embedder  # shared between collections with the same model
        self._embedders: dict[str, CachedEmbedder] = {}  # of versions built with another model than embed.model
        # reopened when LIVE moves; kept while LIVE or the records are unreadable (see served())
        self._served = FileCache(self.registry.live_path, lambda _: self._serve(), last_good=True)
        self._reranker = self._llm = self._reader = None
        self.warm_views = False  # a server's engine (warm_up) loads each version's indexes as it opens it

    # -- parts, built lazily ------------------------------------------------------------------------------------
    @cached_property
    def state(self) -> State:
        """The home's state store (keys, jobs, query log, monitor, rate limits): HOME/state.sqlite or state.url."""
        return State(self.settings.state.url, self.home.root)

    @property
    def embedder(self) -> CachedEmbedder:
        """The configured model on the live version's encoder path where it has one (so an ingest extends it
        with vectors of the same path), else on the path embed.backend names or this machine measured."""
        if self._embedder is None:
            self._embedder = make_embedder(self.settings.embed, self.home.cache_dir, self._built_with())
        return self._embedder

    def _built_with(self) -> str | None:
        """The model id of the live version, when embed.model built it."""
        try:
            live = self.registry.live()
        except RagshipError:
            return None  # an unreadable pointer is reported where it matters (doctor, serving)
        if live and live.params.get("embed_model", self.settings.embed.model) == self.settings.embed.model:
            return live.model_id
        return None

    @property
    def reranker(self):
        """The configured cross-encoder (loaded on first use), or None: reranking is off by default."""
        if self._reranker is None and self.settings.rerank.model:
            self._reranker = CrossEncoderReranker(self.settings.rerank.model, self.settings.rerank.batch_size)
        return self._reranker

    @property
    def reader(self):
        """The configured reader (answer.reader, loaded on first use), or None."""
        if self._reader is None and self.settings.answer.reader:
            from ragship.answer.reader import Reader

            self._reader = Reader(self.settings.answer.reader)
        return self._reader

    def generator(self):
        """The configured LLM generator, or None for extractive answers."""
        if self._llm is None and self.settings.answer.generator == "openai":
            from ragship.answer.openai import make_generator

            self._llm = make_generator(self.settings.answer)
        return self._llm

    def doctor(self, repair: bool = False) -> list:
        """`ragship doctor`: the home's checks as Findings, repaired where `repair` can without losing data."""
        from ragship.release.doctor import Doctor

        return Doctor(self, lambda: self.embedder.model_id).examine(repair)

    def store(self) -> ChunkStore:
        return self.ingestor.store()

    def served(self) -> Served:
        """The live (or pinned) version with its embedder, reopened whenever the live pointer moves. When the
        pointer or records become unreadable, a process that was serving keeps its last good version until
        they are repaired (/healthz says why, /readyz fails); a new process gets the error."""
        return self._served.get()

    def view(self) -> IndexView:
        return self.served().view

    def embedder_for(self, model: str, model_id: str | None = None) -> CachedEmbedder:
        """The embedder of `model` with this collection's other embed settings: a version is queried with the
        model that built it, so promoting one built by another model (say after `adapt`) serves at once."""
        if model == self.settings.embed.model and (not self.settings.embed.measured
                                                   or model_id in (None, self.embedder.model_id)):
            return self.embedder  # (with a path set in embed settings, _serve refuses a version of another)
        key = f"{model}|{model_id}"
        if key not in self._embedders:
            embed = self.settings.embed.model_copy(update={"model": model})
            self._embedders[key] = make_embedder(embed, self.home.cache_dir, model_id)
        return self._embedders[key]

    def _serve(self) -> Served:
        version, s = self.registry.serving(self.pin), self.settings.search
        embedder = self.embedder_for(version.params.get("embed_model", self.settings.embed.model), version.model_id)
        if embedder.model_id != version.model_id:
            raise ConfigError(f"index version {version.id} was built with {version.model_id} but the same model "
                              f"with these embed settings is {embedder.model_id}; set embed.backend = 'auto' (it "
                              "serves a version on the path that built it), or set embed.backend and embed.precision "
                              "back, or re-ingest")
        self._check_files(version, deep=False)  # a stat per file, once per live version
        view = self.store().view(version.id, s.ann_nprobes, s.ann_refine_factor, version.lance_version)
        if self.warm_views:
            view.warm()
        return Served(version, view, embedder)

    def searcher(self, served: Served | None = None) -> Searcher:
        served = served or self.served()
        return Searcher(served.view, served.embedder, self.settings.search, self.reranker, self.settings.rerank.top_n)

    def answerer(self, served: Served | None = None) -> Answerer:
        served = served or self.served()
        return Answerer(served.embedder, self.settings.answer, self.calibrations.current(served.version.id),
                        self.generator(), self.reader)

    def calibration(self) -> Calibration | None:
        return self.calibrations.current(self.pin or self.registry.pointer().get("id"))

    def sibling(self, settings: Settings, pin: str | None = None, state: State | None = None) -> Engine:
        """An engine for other settings (another home, chunking or model), sharing the embedder when it can."""
        return Engine(settings, self.embedder if settings.embed == self.settings.embed else None, pin, state)

    def at_version(self, version_id: str) -> Engine:
        """This collection pinned to one version (for the release gate); it queries with the version's model."""
        pinned = Engine(self.settings, self.embedder, pin=version_id, state=self.state)
        pinned._embedders, pinned._reranker, pinned._reader = self._embedders, self._reranker, self._reader
        return pinned

    def releases(self) -> Releases:
        return Releases(self)

    def warm_up(self) -> None:
        """Load the models and open the live version with its indexes now (and each later live version as it is
        opened), so that requests do not pay for it."""
        self.warm_views = True
        self.embedder.embed_query("warm up")
        if self.reranker is not None:
            self.reranker.scores("warm up", ["warm up"])
        if self.reader is not None:
            self.reader.read("warm up", ["warm up"])
        if self.registry.live() is not None:
            self.view()

    # -- operations ---------------------------------------------------------------------------------------------
    def ingest(self, paths, observe=None, **options) -> IngestReport:
        return self.ingestor.run(paths, observe, **options)

    def _ingested(self, report: IngestReport) -> None:
        metrics.record_ingest(report)
        self.releases().after_ingest(report)

    def delete_documents(self, doc_ids: list[str]) -> IngestReport:
        return self.ingestor.delete(doc_ids)

    def search(self, query: str, mode: str | None = None, k: int | None = None, filter: Filter | None = None,
               mmr: float | None = None, served: Served | None = None) -> SearchResult:
        """`filter`: the reader's permission groups and metadata filters, applied inside the index queries
        (deleted documents are always hidden)."""
        served = served or self.served()
        with self._reading(served):
            return self.searcher(served).search(query, mode, k, self._visible(filter), mmr)

    @contextmanager
    def _reading(self, served: Served) -> Iterator[None]:
        """A read of the index that fails is checked against the version's file checksums: a damaged file is a
        StateCorrupt naming it (the serving path checks only sizes up front); anything else is raised as is."""
        try:
            yield
        except RagshipError:
            raise
        except Exception:
            self._check_files(served.version, deep=True)
            raise

    def _check_files(self, version: IndexVersion, deep: bool) -> None:
        """StateCorrupt naming the files of `version` that no longer match their record (sizes, or checksums)."""
        damaged = self.store().damaged(version.files, deep=deep)
        if damaged:
            raise StateCorrupt(f"index version {version.id} is damaged ({'; '.join(damaged[:3])}); {REPAIR}") \
                from None

    def context(self, question: str, mode: str | None = None, filter: Filter | None = None,
                served: Served | None = None) -> SearchResult:
        return self.search(question, mode, max(self.settings.answer.context_chunks, 3), filter, served=served)

    def standalone(self, turns: list[tuple[str, str]], max_chars: int = MAX_QUERY_CHARS) -> str:
        """A conversation's last question, rewritten by the LLM to stand alone when one is configured and there
        are earlier turns; else (or when the LLM fails) the last question as it is. `turns`: (role, text)."""
        question = turns[-1][1]
        generator = self.generator()
        if generator is None or len(turns) < 2:
            return question
        try:
            rewritten = generator.standalone(turns)
        except GenerationError as e:
            log.warning("standalone question: the LLM failed (%s); answering the last question as asked", e)
            return question
        return rewritten[:max_chars] if rewritten.strip() else question

    def ask(self, question: str, mode: str | None = None, filter: Filter | None = None) -> Answer:
        served = self.served()  # one version for every search of this answer
        research = partial(self.context, filter=filter, served=served)
        evidence = research(question, mode)
        answer = self.answerer(served).answer(question, evidence, research)
        answer.retrieval = evidence
        metrics.record_answer(answer.abstained, answer.index_version, answer.confidence)
        return answer

    def ask_stream(self, question: str, mode: str | None = None, filter: Filter | None = None) -> Iterator[dict]:
        served = self.served()
        research = partial(self.context, filter=filter, served=served)
        evidence = research(question, mode)
        for event in self.answerer(served).stream(question, evidence, research):
            if event["type"] == "answer":
                a = event["answer"]
                metrics.record_answer(a["abstained"], a["index_version"], a["confidence"])
                event["retrieval"] = evidence  # for the query log; not sent
            yield event

    def documents(self, filter: Filter | None = None) -> list[dict[str, Any]]:
        """The live version's documents that `filter` lets its reader see."""
        served = self.served()
        with self._reading(served):
            return served.view.documents(self._visible(filter).mask(served.view.memory.columns))

    def document(self, doc_id: str, filter: Filter | None = None) -> dict[str, Any]:
        """One visible document with its text; DocumentNotFound whether it does not exist or may not be read."""
        served = self.served()
        with self._reading(served):
            return served.view.readable_document(doc_id, self._visible(filter).sql())

    def replaceable(self, doc_id: str, filter: Filter) -> None:
        """Forbidden when a document `doc_id` exists that `filter`'s reader may not read, and so may not write
        over (an upload needs the right a delete needs)."""
        if self.registry.live() is not None and self.view().holds(doc_id, self._visible(None).sql()) \
                and not self.view().holds(doc_id, self._visible(filter).sql()):
            raise Forbidden(f"{doc_id} cannot be written by this key; upload it under another file name")

    def _visible(self, filter: Filter | None) -> Filter:
        return (filter or Filter()).hiding(self.tombstones.ids())

    def _shown_settings(self) -> dict[str, Any]:
        shown = self.settings.model_dump(mode="json", exclude={"home", "cache_dir"})
        if shown["state"]["url"]:
            shown["state"]["url"] = redact(shown["state"]["url"])  # never a database password
        return shown

    def status(self) -> dict[str, Any]:
        """What `ragship status` shows, each part reporting its own."""
        live = self.registry.live()
        return {"home": str(self.home.root.resolve()), **self.registry.status(),
                "encoder": self.embedder.encoder, "query_encoder": self.embedder.query_encoder(),
                "settings": self._shown_settings(),
                "reranker": describe_reranker(self.reranker, self.settings.rerank.top_n),
                "generator": self.settings.answer.generator, "reader": self.settings.answer.reader or None,
                "calibration": self.calibrations.status(live.id if live else None), **self.ingestor.status()}
