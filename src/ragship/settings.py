"""One typed settings object, read from (highest first) explicit arguments, `RAGSHIP_*` environment
variables (nested with `__`, e.g. `RAGSHIP_SEARCH__RRF_K=30`), `ragship.toml`, then defaults."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ragship.errors import ConfigError, InputError
from ragship.types import SearchMode


def config_path() -> Path:
    """The settings file: $RAGSHIP_CONFIG, else ragship.toml in the working directory."""
    return Path(os.environ.get("RAGSHIP_CONFIG", "ragship.toml"))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not silently ignored


class EmbedSettings(_Section):
    model: str = Field("all-MiniLM-L6-v2", description="model name (packaged or in the local HF cache) or path")
    # the encoder path for documents: "auto" times every path this machine can run on a sample once (cached per
    # model and CPU in the model cache) and takes the fastest within auto_min_cosine of float32 (ADR 0019);
    # "torch" uses embed.precision; "onnx-int8" / "onnx-fp32" run on ONNX Runtime
    backend: Literal["auto", "torch", "onnx-int8", "onnx-fp32"] = "auto"
    # ONNX int8 (min cosine 0.99 to float32) lost 0.0005-0.0043 hybrid nDCG@10 on SciFact depending on how batches
    # were made up (ADR 0005, 0019; 0.003 is issue 19's tolerance); every bf16 path (min 0.9999) lost none.
    # 0.995 refuses the first and keeps the others.
    auto_min_cosine: float = Field(0.995, gt=0, le=1)
    # 16 texts per forward pass: ingesting 2,000 SciFact documents took 42 s vs 43 s at 32, with peak RSS
    # 930 vs 1,120 MiB (bf16, ADR 0007)
    batch_size: int = Field(16, gt=0, le=4096)
    device: str = "cpu"
    # torch backend: bf16 autocast for document batches where the CPU has native bf16 (2.7x here, ADR 0007);
    # "fp32" or "bf16" under backend "auto" means PyTorch in that precision, unmeasured; "bf16w" casts the weights
    # to bf16 too (no casts around each matmul; ADR 0019)
    precision: Literal["auto", "fp32", "bf16", "bf16w"] = "auto"
    # 1 thread per query encode: with 2 cores and a busy box, 2 torch threads made single queries ~40x slower
    # (PEERS.md: 496 ms vs 11.8 ms p50).
    query_threads: int = Field(1, ge=1)
    # torch backend: single queries on ONNX Runtime (ADR 0009) when the model exports (mean-pooling BERT);
    # "torch" keeps them on PyTorch; "onnx" fails if ONNX is unavailable
    query_backend: Literal["auto", "torch", "onnx"] = "auto"
    # ONNX query weights: "fp32" gives PyTorch's vectors exactly; "int8" (per-channel MatMul weights) encodes in
    # 2.8 vs 6.4 ms inside a 100k-chunk search, zero-shot SciFact nDCG@10 unchanged (0.7281) but an adapted
    # model's 0.7543 -> 0.7508 (ADR 0009). Use it with query_onnx_threads = 1 (2.8 vs 3.4 ms on 2).
    query_precision: Literal["fp32", "int8"] = "fp32"
    # ONNX Runtime threads per query, without spin-waiting: fp32 encoded in 3.2 ms alone vs 5.4 ms with 1 (ADR 0009)
    query_onnx_threads: int = Field(2, ge=1, le=64)

    @property
    def measured(self) -> bool:
        """Whether the encoder path is this machine's measured choice (else the settings name it)."""
        return self.backend == "auto" and self.precision == "auto"


class ChunkSettings(_Section):
    strategy: Literal["heading", "recursive", "fixed"] = "heading"
    tokens: int = Field(200, ge=16, le=8192, description="max tokens per chunk, counted by the embedder's tokenizer")
    overlap: int = Field(32, ge=0, description="tokens of the previous chunk repeated at the start of the next")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkSettings:
        if self.overlap >= self.tokens:
            raise ValueError(f"chunk.overlap must be smaller than chunk.tokens; got {self.overlap} >= {self.tokens}")
        return self

    @classmethod
    def parse(cls, spec: str) -> ChunkSettings:
        """`"128/16"` (TOKENS/OVERLAP) → ChunkSettings, validated by this model (InputError otherwise)."""
        tokens, _, overlap = spec.strip().partition("/")
        try:
            return cls(tokens=tokens, overlap=overlap or 0)
        except ValidationError as e:
            raise InputError(f"{spec.strip()!r}: write TOKENS/OVERLAP, e.g. 128/16 ({_problems(e)})") from None


REMOTE_SCHEMES = ("s3://", "git+", "http://", "https://")


def is_remote(location: str | Path) -> bool:
    """Whether a source location names an S3 prefix, a Git repository or a website rather than a local path."""
    return isinstance(location, str) and location.startswith(REMOTE_SCHEMES)


class SourceSettings(_Section):
    """Settings for the documents under one path or remote source, e.g. in ragship.toml:
    [[sources]]
    path = "docs/runbooks"         # or "s3://bucket/prefix", "git+https://host/repo.git", "https://site/"
    chunk = { strategy = "fixed", tokens = 128, overlap = 16 }
    metadata = { team = "ops" }
    """

    path: str = Field(description="a folder or file; s3://bucket/prefix; git+URL-or-path (branch below); or the "
                                  "start page (or sitemap .xml) of a website")
    branch: Optional[str] = Field(None, description="a Git source's branch (default: the repository's HEAD)")
    max_pages: int = Field(500, ge=1, description="a website source reads at most this many pages")
    chunk: Optional[ChunkSettings] = None
    metadata: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)
    groups: list[str] = Field(default_factory=list, description="who may read these documents; empty = everyone")
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    ocr: bool = Field(False, description="read scanned PDFs and images by OCR (Tesseract; slow: ~5 s an A4 page "
                                         "on 2 cores)")
    # freshness objective: the scheduler (`ragship serve`, `ragship watch`) re-syncs the source every quarter of this
    # age, and the SourceStale alert fires when its last good sync is older; e.g. "24h", "30m", "90s"
    max_age: Optional[str] = Field(None, pattern=r"^\d+(\.\d+)?[smhd]$")

    @field_validator("path", mode="before")
    @classmethod
    def _path_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, os.PathLike) else value

    @property
    def max_age_s(self) -> float | None:
        return duration_s(self.max_age) if self.max_age else None


def duration_s(text: str) -> float:
    """"90s", "30m", "24h", "7d" → seconds."""
    return float(text[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]


class IndexSettings(_Section):
    # where the chunks table lives: HOME/index/lance by default, or an object store (s3://bucket/prefix, also
    # gs:// and az://). Credentials, region and endpoint come from the environment like any S3 client's
    # (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL; AWS_ALLOW_HTTP=true for a local
    # S3-compatible server). The version records and the live pointer stay in the home (ADR 0016).
    uri: Optional[str] = Field(None, description="s3://bucket/prefix (or gs://, az://); default HOME/index/lance",
                               pattern=r"^(s3|gs|az)://[^/]+")


class IngestSettings(_Section):
    max_file_mb: float = Field(50.0, gt=0)
    write_batch: int = Field(512, gt=0, description="documents parsed, embedded and written per batch")
    min_free_mb: float = Field(256.0, ge=0, description="an ingest stops before the home's disk has less free "
                               "space than this (0: write until the disk is full)")

    @property
    def max_file_bytes(self) -> int:
        """The size limit of one file, ingested or uploaded."""
        return int(self.max_file_mb * 1e6)


class SearchSettings(_Section):
    mode: SearchMode = "hybrid"
    top_k: int = Field(10, ge=1, le=1000)
    max_k: int = Field(1000, ge=1)
    candidates: int = Field(100, ge=1, description="results taken from each retriever before fusion")
    fusion: Literal["rrf", "convex"] = "rrf"
    rrf_k: int = Field(60, ge=1, description="RRF constant: score = sum w / (rrf_k + rank)")
    dense_weight: float = Field(1.0, ge=0)
    bm25_weight: float = Field(1.0, ge=0)
    mmr_lambda: float = Field(1.0, ge=0, le=1, description="MMR diversity: 1 = off, lower = more diverse")
    # BM25 analysis (LanceDB's native full-text index; English). A change rebuilds the full-text index as a new
    # version at the next ingest, without re-embedding. `ragship tune` tries each combination.
    bm25_stem: bool = True
    bm25_stop_words: bool = True

    def fts_params(self) -> dict:
        """`ChunkStore.build_fts` arguments, as stored in a version's params["fts"]."""
        return {"stem": self.bm25_stem, "stop_words": self.bm25_stop_words}
    # dense search is exact (flat, vectors in memory) below this many chunks; at or above it an IVF_HNSW_SQ
    # index (partitions of ~65k rows) is built and searched with these parameters (refine_factor re-scores the
    # candidates exactly). At 1M chunks: recall@10 0.981, dense p50 15 ms (ADR 0016 §5; ADR 0009 before).
    ann_min_rows: int = Field(250_000, ge=1)
    ann_nprobes: int = Field(8, ge=1)
    ann_refine_factor: int = Field(1, ge=1)


class RerankSettings(_Section):
    # off until a cross-encoder is configured or trained (`ragship adapt --reranker`): none ships on PyPI
    model: str = Field("", description="cross-encoder name (local HF cache) or path; empty = no reranking")
    top_n: int = Field(20, ge=1, le=1000, description="fused candidates the cross-encoder re-scores")
    batch_size: int = Field(10, ge=1, le=1024, description="pairs per forward pass (sorted by length first): 20 "
                            "SciFact pairs took 174 ms at 10, 197 at 20, 187 at 5 on 2 cores")


class LLMSettings(_Section):
    """An OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp's server)."""

    base_url: str = Field("", description="e.g. http://127.0.0.1:8080/v1")
    model: str = ""
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the key (may be unset)")
    timeout_s: float = Field(20.0, gt=0, le=600, description="bounds the whole call, retries included")
    retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(0.5, ge=0, le=30)
    max_tokens: int = Field(400, ge=16, le=8192)
    temperature: float = Field(0.0, ge=0, le=2)


class AnswerSettings(_Section):
    generator: Literal["extractive", "openai"] = "extractive"
    # used when no `ragship calibrate` model exists for the index; a calibration brings its own threshold
    abstain_threshold: float = Field(0.5, ge=0, le=1, description="abstain when confidence is below this")
    # below the threshold: abstain with the closest sources, answer with a warning, or retry another mode
    fallback: Literal["abstain", "warn", "retry"] = "abstain"
    retry_mode: SearchMode = "bm25"
    # an LLM sentence counts as supported by its cited chunk at or above this support score (0-1)
    min_support: float = Field(0.5, ge=0, le=1)
    unsupported: Literal["drop", "flag"] = "drop"
    # an LLM failure (down, timeout, malformed reply) falls back to the extractive answer unless this is false
    fallback_to_extractive: bool = True
    allowed_link_hosts: list[str] = Field(default_factory=list, description="hosts answers may link to")
    max_sentences: int = Field(3, ge=1, le=20)
    context_chunks: int = Field(5, ge=1, le=50, description="top chunks whose sentences may be quoted")
    reader: str = Field("", description="a reader model folder (`ragship adapt --reader`); empty = none")
    reader_passages: int = Field(3, ge=1, le=20, description="top chunks the reader reads")
    # off by default: on clapnq-dev (long gold answers) answer F1 0.455 off, 0.439 on (ADR 0014)
    reader_quotes: bool = Field(False, description="when the reader finds the answer, quote only the chosen "
                                "sentences that hold its span (a tighter answer)")
    llm: LLMSettings = LLMSettings()


class ServerSettings(_Section):
    max_body_kb: int = Field(64, ge=1, description="largest JSON request body; uploads use ingest.max_file_mb")
    rate_per_minute: int = Field(600, ge=1, description="requests per minute per API key (a moving window)")
    burst: int = Field(60, ge=1, description="requests a key may send at once before the rate applies")
    max_upload_files: int = Field(20, ge=1, le=1000)
    request_timeout_s: float = Field(30.0, gt=0, description="a search or answer (queue wait included) that takes "
                                     "longer gets 503")
    job_lease_s: float = Field(30.0, ge=2, description="an upload job whose server process stops renewing it for "
                               "this long (killed) is taken by another process")


class GoldenSet(_Section):
    """A labeled set the release gate evaluates on: a BEIR folder (queries, qrels/SPLIT.tsv; with answers.jsonl
    and queries_unanswerable.jsonl, answer metrics too)."""

    path: Path
    split: str = "test"


# what a candidate may lose against the live version before the gate refuses it (absolute for rates and
# retrieval metrics; relative for latency), if the loss is also significant (release.significance)
DEFAULT_TOLERANCES = {"ndcg@10": 0.005, "recall@100": 0.01, "answer_rate": 0.01, "abstain_rate": 0.01,
                      "citation_precision": 0.01, "p95_ms": 0.20}


class ReleaseSettings(_Section):
    # "always": each ingest's version goes live (no golden sets needed); "gate": it goes live only if the gate
    # passes; "never": it stays a candidate for `ragship promote`. The first version always goes live.
    auto_promote: Literal["always", "gate", "never"] = "always"
    hold_deletions_over: float = Field(0.2, ge=0, le=1, description="an ingest removing more than this share of the "
                                       "live documents is held for the gate (an accident?); fewer are gone at once")
    golden: list[GoldenSet] = Field(default_factory=list)
    tolerances: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    significance: float = Field(0.05, gt=0, lt=0.5, description="one-sided p below which a loss is real")
    # retention after each ingest: live, pinned, the newest keep_last, and any live within retire_grace_s stay
    keep_last: int = Field(10, ge=1)
    retire_grace_s: float = Field(600.0, ge=0)

    @model_validator(mode="after")
    def _checked(self) -> ReleaseSettings:
        unknown = set(self.tolerances) - set(DEFAULT_TOLERANCES)
        if unknown:
            raise ValueError(f"release.tolerances: unknown metric(s) {sorted(unknown)}; "
                             f"known: {', '.join(DEFAULT_TOLERANCES)}")
        if self.auto_promote == "gate" and not self.golden:
            raise ValueError('release.auto_promote = "gate" needs [[release.golden]] sets to gate on')
        return self


class AlertRule(_Section):
    """One alert: fires when `signal` `op` `threshold` has held for `for_s` seconds (monitor/rules.py lists the
    signals), and links the runbook section that says what to do."""

    name: str = Field(..., pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    signal: str
    op: Literal["<", ">"] = ">"
    threshold: float
    for_s: float = Field(0.0, ge=0)
    severity: Literal["info", "warning", "critical"] = "warning"
    runbook: str = Field(..., description="docs/runbooks/FILE.md#anchor (linked under runbook_base_url) or a URL")
    summary: str = ""


class StateSettings(_Section):
    # where the service's shared state lives (rate-limit counters; see ADR 0016): an SQLite file in the home by
    # default (nothing to start), or a PostgreSQL database shared by replicas on several machines
    url: Optional[str] = Field(None, description="postgresql://user:password@host:port/db; default SQLite in "
                               "HOME/state.sqlite", pattern=r"^(postgres(ql)?|sqlite)(\+\w+)?://")


class MonitorSettings(_Section):
    # what the query log keeps of a query's text: "keep" it, "hash" it (sha256: equal queries stay countable),
    # or "redact" it (emails, phone, card and id numbers replaced by [EMAIL], [PHONE], ...)
    query_text: Literal["keep", "hash", "redact"] = "redact"
    retention_days: float = Field(30.0, gt=0, description="query log and feedback rows older than this go")
    window_s: float = Field(3600.0, gt=0, description="the sliding window of the business metrics")
    min_requests: int = Field(20, ge=1, description="a window with fewer requests (or votes) yields no rate")
    # query drift: the `recent` newest queries against the `reference` ones since it was set (MMD, permutation p)
    reference: int = Field(300, ge=20)
    recent: int = Field(100, ge=20)
    permutations: int = Field(2000, ge=100, le=20000)
    reset_on_release: bool = Field(True, description="a new reference after a release that changed retrieval "
                                   "(model or chunking), unless the traffic drifts then (`ragship drift --reset`)")
    reference_max_age: str = Field("30d", pattern=r"^\d+(\.\d+)?[smhd]$")
    evaluate_every_s: float = Field(30.0, gt=0, description="how often a server evaluates the alert rules")
    webhook_url: str = Field("", description="where fired and resolved alerts are POSTed (JSON)")
    runbook_base_url: str = Field("", description="where alert runbook links point, e.g. https://rag.example.com/"
                                  "runbooks; empty: the runbooks the server itself renders at /runbooks (`ragship "
                                  "serve` fills in its own address)")
    webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    webhook_give_up_s: float = Field(86400.0, gt=0, description="undelivered this long: kept as dead letter")
    alerts: Optional[list[AlertRule]] = Field(None, description="default: monitor/rules.py DEFAULT_RULES")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAGSHIP_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Path(".ragship")
    cache_dir: Optional[Path] = Field(None, description="embedding cache folder; default HOME/cache")
    index: IndexSettings = IndexSettings()
    embed: EmbedSettings = EmbedSettings()
    chunk: ChunkSettings = ChunkSettings()
    ingest: IngestSettings = IngestSettings()
    search: SearchSettings = SearchSettings()
    rerank: RerankSettings = RerankSettings()
    answer: AnswerSettings = AnswerSettings()
    server: ServerSettings = ServerSettings()
    release: ReleaseSettings = ReleaseSettings()
    monitor: MonitorSettings = MonitorSettings()
    state: StateSettings = StateSettings()
    sources: list[SourceSettings] = Field(default_factory=list)

    def source_settings(self, path: str | Path) -> SourceSettings | None:
        """The [[sources]] entry for an ingested path or remote location: the most specific one containing it."""
        if is_remote(path):
            matches = [s for s in self.sources if path == s.path or path.startswith(s.path.rstrip("/") + "/")]
            return max(matches, key=lambda s: len(s.path), default=None)
        target = Path(path).resolve()
        local = [(s, Path(s.path).resolve()) for s in self.sources if not is_remote(s.path)]
        matches = [(s, p) for s, p in local if target == p or p in target.parents]
        return max(matches, key=lambda m: len(m[1].parts), default=(None,))[0]

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

    def index_params(self) -> dict:
        """The settings that shape a version's chunks and vectors; stored with it (and in each document's hash)."""
        return {"embed_model": self.embed.model, "chunk": self.chunk.model_dump()}


def load_settings(**overrides) -> Settings:
    """Build Settings, turning validation errors into a ConfigError naming each bad field."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise ConfigError(f"invalid settings ({_problems(e)}); fix ragship.toml or the RAGSHIP_* variable") from None
    except OSError as e:
        raise ConfigError(f"cannot read settings file: {e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:  # found by tests/test_settings_fuzz.py
        raise ConfigError(f"{config_path()} is not valid TOML ({e}); fix it") from None


def _problems(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())


def write_settings(path: Path, section: str, values: dict[str, Any]) -> None:
    """Set keys of one [section] in a settings file with tomlkit, keeping the user's comments, order and every
    other table as they were. Called by the faces: the library returns what it chose, the CLI writes it."""
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
    for key, value in values.items():
        table[key] = value
    atomic_write_text(path, tomlkit.dumps(document))
