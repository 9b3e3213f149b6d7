"""Named collections, each with its own index, settings and versions. "default" is the home itself; others live
in HOME/collections/NAME with a settings.json of the sections they override (chunk, search, rerank, answer).
All share one embedding model and cache, so a model is loaded once per process. A registry only: what watches and
improves the collections (the query log, the monitor, incidents, learning) is oversight.py."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path
from typing import Any

from ragship.access import LOCAL, Principal
from ragship.engine import Engine
from ragship.errors import CollectionNotFound, Conflict, InputError
from ragship.fsio import atomic_write_json, read_json
from ragship.retrieve.filters import Filter
from ragship.settings import Settings, load_settings

DEFAULT = "default"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
OVERRIDABLE = ("chunk", "search", "rerank", "answer")


def named(collection: str | None) -> str:
    """The collection a request names, "default" when it names none."""
    return collection or DEFAULT


class Collections:
    def __init__(self, default: Engine):
        self.default = default
        self.root = default.home.collections
        self._engines: dict[str, Engine] = {DEFAULT: default}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        found = sorted(p.name for p in self.root.iterdir() if (p / "settings.json").exists()) \
            if self.root.is_dir() else []
        return [DEFAULT, *found]

    def get(self, name: str | None) -> Engine:
        name = named(name)
        with self._lock:
            if name not in self._engines:
                if not NAME.match(name) or not (self.root / name / "settings.json").exists():
                    raise CollectionNotFound(f"no collection {name!r}; the collection list (`ragship collections "
                                             "list`, GET /v1/collections) names them")
                self._engines[name] = self._open(name)
            return self._engines[name]

    def describe(self, name: str, viewer: Principal = LOCAL) -> dict[str, Any]:
        """A collection's live version, settings and the number of its documents `viewer` may read."""
        engine = self.get(name)
        live = engine.registry.live()
        documents = 0 if live is None else live.counts["documents"] if viewer.groups is None else \
            len(engine.serving.documents(Filter(viewer.groups)))
        return {"name": name, "live_version": live.id if live else None, "documents": documents,
                "settings": read_json(self.root / name / "settings.json", default={}) if name != DEFAULT else {}}

    def create(self, name: str, overrides: dict[str, Any] | None = None) -> Engine:
        if not NAME.match(name or ""):
            raise InputError("a collection name is 1-63 lowercase letters, digits, _ or -, starting with a letter "
                             f"or digit; got {name!r}")
        overrides = overrides or {}
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise InputError(f"a collection may override {', '.join(OVERRIDABLE)}; not {', '.join(sorted(unknown))}")
        with self._lock:
            folder = self.root / name
            if name == DEFAULT or (folder / "settings.json").exists():
                raise Conflict(f"collection {name!r} already exists")
            self._settings(folder, overrides)  # validates before anything is written
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(folder / "settings.json", overrides)
        return self.get(name)

    def delete(self, name: str) -> None:
        if name == DEFAULT:
            raise Conflict("the default collection cannot be deleted")
        self.get(name)
        with self._lock:
            self._engines.pop(name, None)
            shutil.rmtree(self.root / name)

    def _open(self, name: str) -> Engine:
        folder = self.root / name
        settings = self._settings(folder, read_json(folder / "settings.json", default={}))
        return self.default.sibling(settings, state=self.default.state)

    def _settings(self, folder: Path, overrides: dict[str, Any]) -> Settings:
        base: Settings = self.default.settings
        merged = base.model_dump(exclude={"home", "cache_dir", "sources"})
        for section, values in overrides.items():
            merged[section] = {**merged[section], **values}
        if base.index.uri:  # each collection its own table, under the home's prefix
            merged["index"]["uri"] = f"{base.index.uri.rstrip('/')}/collections/{folder.name}"
        return load_settings(home=folder, cache_dir=self.default.home.cache_dir, **merged)
