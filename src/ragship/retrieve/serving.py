"""The version requests read: the live one (or a pinned one) opened with the embedder that built it, reopened
when the live pointer moves, its documents shown to the callers their filters let read them, and a read that
fails checked against the version's file checksums."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ragship.embed import CachedEmbedder
from ragship.errors import REPAIR, ConfigError, Forbidden, RagshipError, HomeFileDamaged
from ragship.index import ChunkStore, IndexVersion, IndexView, VersionRegistry
from ragship.index.tombstones import Tombstones
from ragship.retrieve.filters import Filter
from ragship.settings import SearchSettings
from ragship.util.files import FileCache


@dataclass(frozen=True)
class Served:
    """The version requests read and the embedder that built it, taken together so no request mixes two."""

    version: IndexVersion
    view: IndexView
    embedder: CachedEmbedder


class Serving:
    def __init__(self, registry: VersionRegistry, store: Callable[[], ChunkStore], tombstones: Tombstones,
                 embedder_for: Callable[[str, str | None], CachedEmbedder], default_model: str,
                 settings: SearchSettings, pin: str | None = None):
        self.registry, self.store, self.tombstones, self.pin = registry, store, tombstones, pin
        self._embedder_for, self._model, self._settings = embedder_for, default_model, settings
        # reopened when LIVE moves; kept while LIVE or the records are unreadable (see get())
        self._served = FileCache(registry.live_path, lambda _: self._open(), last_good=True)
        self.warm_views = False  # a server loads each version's indexes as it opens it

    def get(self) -> Served:
        """The live (or pinned) version with its embedder. When the pointer or records become unreadable, a
        process that was serving keeps its last good version until they are repaired (/healthz says why,
        /readyz fails); a new process gets the error."""
        return self._served.get()

    def _open(self) -> Served:
        version, s = self.registry.serving(self.pin), self._settings
        embedder = self._embedder_for(version.params.get("embed_model", self._model), version.model_id)
        if embedder.model_id != version.model_id:
            raise ConfigError(f"index version {version.id} was built with {version.model_id} but the same model "
                              f"with these embed settings is {embedder.model_id}; set embed.backend = 'auto' (it "
                              "serves a version on the path that built it), or set embed.backend and embed.precision "
                              "back, or re-ingest")
        self.check_files(version, deep=False)  # a stat per file, once per live version
        view = self.store().view(version.id, s.ann_nprobes, s.ann_refine_factor, version.lance_version)
        if self.warm_views:
            view.warm()
        return Served(version, view, embedder)

    @contextmanager
    def reading(self, served: Served) -> Iterator[None]:
        """A read of the index that fails is checked against the version's file checksums: a damaged file is a
        HomeFileDamaged naming it (opening checks only sizes); anything else is raised as is."""
        try:
            yield
        except RagshipError:
            raise
        except Exception:
            self.check_files(served.version, deep=True)
            raise

    def check_files(self, version: IndexVersion, deep: bool) -> None:
        """HomeFileDamaged naming the files of `version` that no longer match their record (sizes, or checksums)."""
        damaged = self.store().damaged(version.files, deep=deep)
        if damaged:
            raise HomeFileDamaged(f"index version {version.id} is damaged ({'; '.join(damaged[:3])}); {REPAIR}") \
                from None

    def visible(self, filter: Filter | None) -> Filter:
        """`filter` hiding deleted documents as well."""
        return (filter or Filter()).hiding(self.tombstones.ids())

    def documents(self, filter: Filter | None = None) -> list[dict[str, Any]]:
        """The live version's documents that `filter` lets its caller see."""
        served = self.get()
        with self.reading(served):
            return served.view.documents(self.visible(filter).mask(served.view.memory.columns))

    def document(self, doc_id: str, filter: Filter | None = None) -> dict[str, Any]:
        """One visible document with its text; DocumentNotFound whether it does not exist or may not be read."""
        served = self.get()
        with self.reading(served):
            return served.view.readable_document(doc_id, self.visible(filter).sql())

    def replaceable(self, doc_id: str, filter: Filter) -> None:
        """Forbidden when a document `doc_id` exists that `filter`'s caller may not read, and so may not write
        over (an upload needs the right a delete needs)."""
        if self.registry.live() is None:
            return
        view = self.get().view
        if view.holds(doc_id, self.visible(None).sql()) and not view.holds(doc_id, self.visible(filter).sql()):
            raise Forbidden(f"{doc_id} cannot be written by this key; upload it under another file name")
