"""The Engine holds one collection's parts (settings, home, models, versions, serving, ingestor, answerer) and
hands them out; the CLI and the server are faces over it. It wires and delegates: every decision lives in a stage."""

from __future__ import annotations

from functools import partial
from typing import Any, Iterator, Sequence

from ragship.answer import Answer, Answerer
from ragship.answer.answerer import context_size, standalone
from ragship.answer.calibrate import Calibration, CalibrationStore
from ragship.embed import CachedEmbedder
from ragship.home import Home
from ragship.index import ChunkStore, IndexView, VersionRegistry
from ragship.index.tombstones import Tombstones
from ragship.ingest.build import IngestReport
from ragship.ingest.ingestor import Ingestor
from ragship.models import Models
from ragship.monitor import metrics
from ragship.release import Releases
from ragship.retrieve.conversation import Contextualizer, Message, Searched, contextualizer
from ragship.retrieve.filters import Filter
from ragship.retrieve.search import MAX_QUERY_CHARS, Searcher, SearchResult, Weighted
from ragship.retrieve.serving import Served, Serving
from ragship.settings import Settings
from ragship.state import State


class Engine:
    def __init__(self, settings: Settings, embedder: CachedEmbedder | None = None, pin: str | None = None,
                 state: State | None = None, models: Models | None = None):
        self.settings, self.pin, self._state = settings, pin, state  # pin: serve this version, not the live one
        self.home = Home(settings.home, settings.cache_dir, settings.index.uri)
        self.registry = VersionRegistry(self.home.index)
        self.tombstones = Tombstones(self.home.tombstones)  # one object: its cache spares a read per query
        self.calibrations = CalibrationStore(self.home.calibration)
        self.models = models or Models(settings, self.home.cache_dir, self.registry.built_with, embedder,
                                       self.registry.follows)
        self.ingestor = Ingestor(self.home, settings, lambda: self.embedder, self.registry, self.tombstones,
                                 on_report=metrics.record_ingest)
        self.serving = Serving(self.registry, self.store, self.tombstones, self.models.embedder_for,
                               settings.embed.model, settings.search, pin)

    @property
    def state(self) -> State:
        """The home's state store (keys, jobs, query log, monitor, rate limits): HOME/state.sqlite or state.url;
        a collection shares its home's."""
        if self._state is None:
            self._state = State(self.settings.state.url, self.home.root)
        return self._state

    @property
    def embedder(self) -> CachedEmbedder:
        return self.models.embedder

    def store(self) -> ChunkStore:
        return self.ingestor.store()

    def served(self) -> Served:
        return self.serving.get()

    def view(self) -> IndexView:
        return self.served().view

    def searcher(self, served: Served | None = None) -> Searcher:
        served = served or self.served()
        search = self.settings.search.model_copy(update=served.version.release.get("search") or {})  # learned
        return Searcher(served.view, served.embedder, search, self.models.reranker, self.settings.rerank.top_n)

    def answerer(self, served: Served | None = None) -> Answerer:
        served = served or self.served()
        return Answerer(self.reading_embedder(served), self.settings.answer, self.calibration(served.version.id),
                        self.models.generator(), self.models.qa_model)

    def reading_embedder(self, served: Served) -> CachedEmbedder:
        """The embedder the answer stage reads sentences with: the configured model a version's model was adapted
        from, else the one that built it. An adapted model retrieves better but scores sentences on another scale,
        and confidence is fitted on those scores: stop 55's replay candidate (SciFact test 0.7281 -> 0.7519) reading
        with its own model answered 0.9674 -> 0.8587 of held-out answerable questions under the live confidence."""
        base = served.version.params.get("adapted_from")
        return self.models.embedder_for(base) if base else served.embedder

    def calibration(self, version: str | None = None) -> Calibration | None:
        """The calibration in force for `version` (default: the one served). Only a version that has been live
        passes its calibration on: a candidate's (fitted on its own model's scores) never reaches another one."""
        return self.calibrations.current(version or self.pin or self.registry.pointer().get("id"), self._never_live)

    def _never_live(self, version: str) -> bool:
        found = self.registry.find(version)
        return found is None or not found.release.get("promotions")

    def sibling(self, settings: Settings, pin: str | None = None, state: State | None = None) -> Engine:
        """An engine for other settings (another home, chunking or model), sharing the embedder when it can."""
        return Engine(settings, self.embedder if settings.embed == self.settings.embed else None, pin, state)

    def at_version(self, version_id: str) -> Engine:
        """This collection pinned to one version (for the release gate), with the same models."""
        return Engine(self.settings, pin=version_id, state=self.state, models=self.models)

    def releases(self) -> Releases:
        return Releases(self)

    def doctor(self, repair: bool = False) -> list:
        """`ragship doctor`: the home's checks as Findings, repaired where `repair` can without losing data."""
        from ragship.recovery.doctor import Doctor

        return Doctor(self, lambda: self.embedder.model_id).examine(repair)

    def warm_up(self) -> None:
        """Load the models and open the live version with its indexes now (and each later live version as it is
        opened), so that requests do not pay for it."""
        self.serving.warm_views = True
        self.models.warm_up()
        if self.registry.live() is not None:
            self.view()

    # -- operations ---------------------------------------------------------------------------------------------
    def ingest(self, paths, observe=None, **options) -> IngestReport:
        """An ingest run; the faces release its version after it (`release`)."""
        return self.ingestor.run(paths, observe, **options)

    def release(self, report: IngestReport) -> IngestReport:
        """The release step after an ingest: the gate under auto_promote = "gate", then retention."""
        if not report.dry_run:
            self.releases().after_ingest(report)
        return report

    def delete_documents(self, doc_ids: list[str]) -> IngestReport:
        return self.ingestor.delete(doc_ids)

    def search(self, query: str, mode: str | None = None, k: int | None = None, filter: Filter | None = None,
               mmr: float | None = None, served: Served | None = None, context: Weighted = ()) -> SearchResult:
        """`filter`: the caller's permission groups and metadata filters, applied inside the index queries
        (deleted documents are always hidden). `context`: weighted texts searched with the query (conversation)."""
        served = served or self.served()
        with self.serving.reading(served):
            return self.searcher(served).search(query, mode, k, self.serving.visible(filter), mmr, context)

    def context(self, question: str, mode: str | None = None, filter: Filter | None = None,
                served: Served | None = None, context: Weighted = ()) -> SearchResult:
        return self.search(question, mode, context_size(self.settings.answer), filter, served=served, context=context)

    def standalone(self, turns: list[tuple[str, str]], max_chars: int = MAX_QUERY_CHARS) -> str:
        return standalone(turns, self.models.generator(), max_chars)

    def conversation(self) -> Contextualizer:
        """What a question asked in a conversation searches for (retrieve/conversation.py)."""
        s = self.settings.search
        return contextualizer(s.turn_decay, s.turns, MAX_QUERY_CHARS, self.models.generator())

    def searched(self, question: str | Sequence[Message], mode: str | None = None, filter: Filter | None = None,
                 served: Served | None = None) -> tuple[Searched, SearchResult]:
        """A question, or a conversation (OpenAI-style messages, the last user message the question): what is
        searched for it, and the answer's evidence."""
        searched = self.conversation().searched(question)
        return searched, self.context(searched.query, mode, filter, served, searched.context)

    def ask(self, question: str | Sequence[Message], mode: str | None = None, filter: Filter | None = None) -> Answer:
        """An answer to a question, or to a conversation's last question in its context."""
        served = self.served()  # one version for every search of this answer
        searched, evidence = self.searched(question, mode, filter, served)
        research = partial(self.context, filter=filter, served=served, context=searched.context)
        answer = self.answerer(served).answer(searched.query, evidence, research)
        answer.retrieval, answer.question, answer.searched = evidence, searched.question, searched.to_dict()
        metrics.record_answer(answer.abstained, answer.index_version, answer.confidence, answer.outcome)
        return answer

    def ask_stream(self, question: str | Sequence[Message], mode: str | None = None,
                   filter: Filter | None = None) -> Iterator[dict]:
        served = self.served()
        searched, evidence = self.searched(question, mode, filter, served)
        research = partial(self.context, filter=filter, served=served, context=searched.context)
        for event in self.answerer(served).stream(searched.query, evidence, research):
            if event["type"] == "answer":
                a = event["answer"]
                a["question"], a["searched"] = searched.question, searched.to_dict()
                metrics.record_answer(a["abstained"], a["index_version"], a["confidence"], a.get("outcome", ""))
                event["retrieval"] = evidence  # for the query log; not sent
            yield event

    def status(self) -> dict[str, Any]:
        """What `ragship status` shows, each part reporting its own."""
        live = self.registry.live()
        return {"home": str(self.home.root.resolve()), **self.registry.status(), **self.models.status(),
                "settings": self.settings.shown(),
                "calibration": self.calibrations.status(live.id if live else None, self._never_live),
                **self.ingestor.status()}
