"""One typed settings object, read from (highest first) explicit arguments, `RAGSHIP_*` environment
variables (nested with `__`, e.g. `RAGSHIP_SEARCH__RRF_K=30`), `ragship.toml`, then defaults. Its sections are
in documents.py (what shapes an index) and service.py (what the service does with it); what every
section shares is in base.py."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Optional

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from ragship.errors import ConfigError
from ragship.settings.base import duration_s, problems
from ragship.settings.documents import (REMOTE_SCHEMES, ChunkSettings, EmbedSettings, IndexSettings, IngestSettings,
                                        RerankSettings, SearchSettings, SourceSettings, is_remote)
from ragship.settings.service import (DEFAULT_TOLERANCES, AlertRule, AnswerSettings, GoldenSet, ImproveSettings,
                                      LLMSettings, MonitorSettings, ReleaseSettings, ServerSettings, StateSettings)

__all__ = ["DEFAULT_TOLERANCES", "REMOTE_SCHEMES", "AlertRule", "AnswerSettings", "ChunkSettings", "EmbedSettings",
           "GoldenSet", "ImproveSettings", "IndexSettings", "IngestSettings", "LLMSettings", "MonitorSettings",
           "ReleaseSettings", "RerankSettings", "SearchSettings", "ServerSettings", "Settings", "SourceSettings",
           "StateSettings", "config_path", "duration_s", "is_remote", "load_settings", "problems", "write_settings"]


def config_path() -> Path:
    """The settings file: $RAGSHIP_CONFIG, else ragship.toml in the working directory."""
    return Path(os.environ.get("RAGSHIP_CONFIG", "ragship.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAGSHIP_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(Path(".ragship"), description="the data home: index, versions, state, cache, models")
    cache_dir: Optional[Path] = Field(None, description="embedding cache folder; default HOME/cache")
    index: IndexSettings = Field(IndexSettings(), description="where the index lives")
    embed: EmbedSettings = Field(EmbedSettings(), description="the embedding model and its encoder path")
    chunk: ChunkSettings = Field(ChunkSettings(), description="how documents are cut into chunks")
    ingest: IngestSettings = Field(IngestSettings(), description="ingest limits")
    search: SearchSettings = Field(SearchSettings(), description="retrieval: modes, fusion, the ANN index")
    rerank: RerankSettings = Field(RerankSettings(), description="the cross-encoder, when one is configured")
    answer: AnswerSettings = Field(AnswerSettings(), description="answers: confidence, fallback, the LLM, the QA model")
    server: ServerSettings = Field(ServerSettings(), description="the HTTP server's limits")
    release: ReleaseSettings = Field(ReleaseSettings(), description="promotion, the gate, retention")
    monitor: MonitorSettings = Field(MonitorSettings(), description="the query log, drift, alerts")
    improve: ImproveSettings = Field(ImproveSettings(), description="learning from production: triggers, training")
    state: StateSettings = Field(StateSettings(), description="the shared state store")
    sources: list[SourceSettings] = Field(default_factory=list, description="per-source settings ([[sources]])")

    def source_groups(self) -> dict[str, list[str]]:
        """Each [[sources]] path (as the freshness records name it) and the groups its documents are given."""
        return {str(s.path): list(s.groups) for s in self.sources}

    def source_settings(self, path: str | Path) -> SourceSettings | None:
        """The [[sources]] entry for an ingested path or remote location: the most specific one containing it."""
        if is_remote(path):
            location = str(path)
            matches = [s for s in self.sources if location == s.path or location.startswith(s.path.rstrip("/") + "/")]
            return max(matches, key=lambda s: len(s.path), default=None)
        target = Path(path).resolve()
        local = [(s, Path(s.path).resolve()) for s in self.sources if not is_remote(s.path)]
        containing = [(s, p) for s, p in local if target == p or p in target.parents]
        best = max(containing, key=lambda m: len(m[1].parts), default=None)
        return best[0] if best else None

    def index_params(self) -> dict:
        """The settings that shape a version's chunks and vectors; stored with it (and in each document's hash)."""
        return {"embed_model": self.embed.model, "chunk": self.chunk.model_dump()}

    def shown(self) -> dict[str, Any]:
        """The settings as `status` shows them: no home paths, never a database password."""
        from ragship.state import redact

        shown = self.model_dump(mode="json", exclude={"home", "cache_dir"})
        if shown["state"]["url"]:
            shown["state"]["url"] = redact(shown["state"]["url"])
        return shown

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_path())


def load_settings(**overrides) -> Settings:
    """Build Settings, turning validation errors into a ConfigError naming each bad field."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise ConfigError(f"invalid settings ({problems(e.errors())}); fix ragship.toml or the RAGSHIP_* "
                          "variable") from None
    except OSError as e:
        raise ConfigError(f"cannot read settings file: {e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:  # found by tests/test_settings_fuzz.py
        raise ConfigError(f"{config_path()} is not valid TOML ({e}); fix it") from None


def write_settings(path: Path, section: str, values: dict[str, Any], drop: tuple[str, ...] = ()) -> None:
    """Set keys of one [section] in a settings file with tomlkit (and remove the `drop` ones: old names of a key),
    keeping the user's comments, order and every other table as they were. Called by the faces: the library
    returns what it chose, the CLI writes it."""
    import tomlkit

    from ragship.fsio import atomic_write_text

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except tomlkit.exceptions.ParseError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix it, then run the command again") from None
    table = document.get(section)
    if table is None:
        table = tomlkit.table()
        document[section] = table
    for key in drop:
        table.pop(key, None)
    for key, value in values.items():
        table[key] = value
    atomic_write_text(path, tomlkit.dumps(document))
