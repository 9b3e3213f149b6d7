"""The sections that shape an index: the embedding model and its encoder path, chunking, sources, where the index
lives, ingest limits, search and reranking. Each field's description reaches the JSON schema and the docs; a
comment beside it gives the measurement behind its default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, ValidationError, field_validator, model_validator

from ragship.errors import InputError
from ragship.settings.base import DURATION, Section, duration_s, problems
from ragship.types import SearchMode


class EmbedSettings(Section):
    model: str = Field("all-MiniLM-L6-v2", description="model name (packaged or in the local HF cache) or path")
    backend: Literal["auto", "torch", "onnx-int8", "onnx-fp32", "ov-bf16", "ov-fp32"] = Field(
        "auto", description="the encoder path for documents: auto times every path this machine can run on a sample "
        "once (cached per model and CPU) and takes the fastest within auto_min_cosine of float32; torch uses "
        "embed.precision; onnx-int8 and onnx-fp32 run on ONNX Runtime, ov-bf16 and ov-fp32 on OpenVINO (ADR 0019)")
    # ONNX int8 (min cosine 0.99 to float32) lost 0.0005-0.0043 hybrid nDCG@10 on SciFact depending on how batches
    # were made up (ADR 0005, 0019); every bf16 path (min 0.9999) lost none. 0.995 refuses the first.
    auto_min_cosine: float = Field(0.995, gt=0, le=1, description="backend auto takes a path only if its vectors "
                                   "are at least this close (cosine) to float32's")
    # 2,000 SciFact documents: 42 s at 16 vs 43 s at 32, peak RSS 930 vs 1,120 MiB (bf16, ADR 0007)
    batch_size: int = Field(16, gt=0, le=4096, description="texts per forward pass when ingesting")
    device: str = Field("cpu", description="the torch device documents are encoded on (cpu, cuda, cuda:1)")
    # bf16 autocast is 2.7x faster here where the CPU has native bf16 (ADR 0007)
    precision: Literal["auto", "fp32", "bf16", "bf16w"] = Field(
        "auto", description="torch backend: auto is bf16 autocast where the CPU has native bf16; fp32 or bf16 under "
        "backend auto means PyTorch in that precision, unmeasured; bf16w casts the weights to bf16 too (ADR 0019)")
    # 2 torch threads on 2 busy cores made single queries ~40x slower (PEERS.md: 496 ms vs 11.8 ms p50)
    query_threads: int = Field(1, ge=1, description="torch threads per query encode")
    query_backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="single queries on ONNX Runtime when the model exports (mean-pooling BERT; ADR 0009); "
        "torch keeps them on PyTorch; onnx fails if ONNX is unavailable")
    # int8 encodes in 2.8 vs 6.4 ms inside a 100k-chunk search; zero-shot SciFact nDCG@10 unchanged (0.7281), an
    # adapted model's 0.7543 -> 0.7508 (ADR 0009). With int8 use query_onnx_threads = 1 (2.8 vs 3.4 ms on 2).
    query_precision: Literal["fp32", "int8"] = Field(
        "fp32", description="ONNX query weights: fp32 gives PyTorch's vectors exactly; int8 is faster, slightly off")
    # fp32 encoded in 3.2 ms alone vs 5.4 ms with 1 thread (ADR 0009)
    query_onnx_threads: int = Field(2, ge=1, le=64, description="ONNX Runtime threads per query (no spin-waiting)")

    @property
    def measured(self) -> bool:
        """Whether the encoder path is this machine's measured choice (else the settings name it)."""
        return self.backend == "auto" and self.precision == "auto"


class ChunkSettings(Section):
    strategy: Literal["heading", "recursive", "fixed"] = Field(
        "heading", description="heading: sentences packed into chunks within each heading's section; recursive: "
        "the same across the whole document; fixed: token windows")
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
            raise InputError(f"{spec.strip()!r}: write TOKENS/OVERLAP, e.g. 128/16 ({problems(e.errors())})") from None


REMOTE_SCHEMES = ("s3://", "git+", "http://", "https://")


def is_remote(location: str | Path) -> bool:
    """Whether a source location names an S3 prefix, a Git repository or a website rather than a local path."""
    return isinstance(location, str) and location.startswith(REMOTE_SCHEMES)


class SourceSettings(Section):
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
    chunk: Optional[ChunkSettings] = Field(None, description="chunking for these documents instead of [chunk]")
    metadata: dict[str, str | int | float | bool | list[str]] = Field(
        default_factory=dict, description="fields every document of the source carries (search filters use them)")
    groups: list[str] = Field(default_factory=list, description="who may read these documents; empty = everyone")
    include: list[str] = Field(default_factory=list, description="only files matching one of these globs")
    exclude: list[str] = Field(default_factory=list, description="skip files matching one of these globs")
    ocr: bool = Field(False, description="read scanned PDFs and images by OCR (Tesseract; slow: ~5 s an A4 page "
                                         "on 2 cores)")
    max_age: Optional[str] = Field(None, pattern=DURATION, description="freshness objective, e.g. 24h, 30m, 90s: "
                                   "the scheduler (`ragship serve`, `ragship watch`) syncs the source every quarter "
                                   "of it, and SourceStale fires when its last good sync is older")

    @field_validator("path", mode="before")
    @classmethod
    def _path_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, os.PathLike) else value

    @property
    def max_age_s(self) -> float | None:
        return duration_s(self.max_age) if self.max_age else None


class IndexSettings(Section):
    # credentials, region and endpoint come from the environment like any S3 client's (AWS_ACCESS_KEY_ID,
    # AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL; AWS_ALLOW_HTTP=true for a local S3-compatible server)
    uri: Optional[str] = Field(None, pattern=r"^(s3|gs|az)://[^/]+", description="where the chunks table lives: "
                               "s3://bucket/prefix (or gs://, az://); default HOME/index/lance. The version records "
                               "and the live pointer stay in the home")


class IngestSettings(Section):
    max_file_mb: float = Field(50.0, gt=0, description="a larger file (ingested or uploaded) is refused")
    write_batch: int = Field(512, gt=0, description="documents parsed, embedded and written per batch")
    min_free_mb: float = Field(256.0, ge=0, description="an ingest stops before the home's disk has less free "
                               "space than this (0: write until the disk is full)")

    @property
    def max_file_bytes(self) -> int:
        """The size limit of one file, ingested or uploaded."""
        return int(self.max_file_mb * 1e6)


class SearchSettings(Section):
    mode: SearchMode = Field("hybrid", description="dense, bm25 or hybrid (both, fused)")
    top_k: int = Field(10, ge=1, le=1000, description="results returned when a request names no k")
    max_k: int = Field(1000, ge=1, description="the largest k a request may ask for")
    candidates: int = Field(100, ge=1, description="results taken from each retriever before fusion")
    fusion: Literal["rrf", "convex"] = Field("rrf", description="rrf: reciprocal rank fusion; convex: a weighted "
                                             "sum of normalised scores")
    rrf_k: int = Field(60, ge=1, description="RRF constant: score = sum w / (rrf_k + rank)")
    dense_weight: float = Field(1.0, ge=0, description="the dense ranking's weight in fusion")
    bm25_weight: float = Field(1.0, ge=0, description="the BM25 ranking's weight in fusion")
    mmr_lambda: float = Field(1.0, ge=0, le=1, description="MMR diversity: 1 = off, lower = more diverse")
    # chosen on MTRAG-UN and held on conversations left out of the choice (ADR 0023)
    turn_decay: float = Field(0.5, ge=0, le=1, description="a question asked in a conversation is searched with the "
                              "user turns before it, each turn back weighing this times the one after it (0 = the "
                              "question alone)")
    turns: int = Field(4, ge=1, le=50, description="user turns of a conversation searched: the question and up to "
                       "turns - 1 before it")
    # a change of either rebuilds the full-text index as a new version at the next ingest, without re-embedding
    bm25_stem: bool = Field(True, description="BM25 stems English words (LanceDB's full-text index)")
    bm25_stop_words: bool = Field(True, description="BM25 drops English stop words")
    # at 1M chunks: recall@10 0.981, dense p50 15 ms (docs/scale-out-1m.md; ADR 0016)
    ann_min_rows: int = Field(250_000, ge=1, description="dense search is exact (flat, in memory) below this many "
                              "chunks; at or above it an IVF_HNSW_SQ index is built (partitions of ~65k rows)")
    ann_nprobes: int = Field(8, ge=1, description="ANN partitions searched per query")
    ann_refine_factor: int = Field(1, ge=1, description="ANN candidates re-scored exactly, as a multiple of k")

    def fts_params(self) -> dict:
        """`ChunkStore.build_fts` arguments, as stored in a version's params["fts"]."""
        return {"stem": self.bm25_stem, "stop_words": self.bm25_stop_words}


class RerankSettings(Section):
    # none ships on PyPI: `ragship adapt --reranker` trains one
    model: str = Field("", description="cross-encoder name (local HF cache) or path; empty = no reranking")
    top_n: int = Field(20, ge=1, le=1000, description="fused candidates the cross-encoder re-scores")
    # 20 SciFact pairs took 174 ms at 10, 197 at 20, 187 at 5 on 2 cores
    batch_size: int = Field(10, ge=1, le=1024, description="pairs per forward pass (sorted by length first)")
