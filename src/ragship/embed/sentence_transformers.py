"""Embedder on sentence-transformers (PyTorch), loaded lazily and once per instance.

Documents are encoded longest first, padded to a multiple of `PAD_MULTIPLE` tokens (fewer distinct shapes, so
oneDNN keeps fewer compiled kernels), under bfloat16 autocast where the CPU computes bf16 natively (AMX or
AVX512-BF16): measured here 2.7x the float32 rate with cosine >= 0.99997 to the float32 vectors (ADR 0007).
Single queries stay float32: at batch 1 on one thread bf16 was slower (11.7 vs 7.8 ms). Precision "bf16w" casts
the weights to bf16 as well: no float32/bf16 casts around each matmul, min cosine 0.9999 to float32 (ADR 0019).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

import numpy as np

from ragship.cpu import cpu_has_native_bf16
from ragship.embed.base import Embedder
from ragship.embed.resolve import resolve_model
from ragship.errors import ModelNotAvailable

log = logging.getLogger(__name__)


PAD_MULTIPLE = 16


def resolve_precision(precision: str, device: str) -> str:
    """`auto` means bf16 on a CPU with native bf16 and float32 everywhere else."""
    if precision != "auto":
        return precision
    return "bf16" if device == "cpu" and cpu_has_native_bf16() else "fp32"


class SentenceTransformerEmbedder(Embedder):
    loads = 0  # models loaded by this class in this process; tests assert on it

    def __init__(self, name: str, *, batch_size: int = 16, device: str = "cpu", query_threads: int = 1,
                 precision: str = "auto", query_backend: str = "auto", query_onnx_threads: int = 2,
                 query_precision: str = "fp32"):
        resolved = resolve_model(name)  # fails fast, before any work, if the model is not on disk
        self.precision = resolve_precision(precision, device)
        # bf16 vectors differ from float32 ones (cosine >= 0.9999): a distinct id keeps caches and indexes apart
        suffix = "" if self.precision == "fp32" else f"+{self.precision}"
        self.name, self.path, self.model_id = name, resolved.path, resolved.model_id + suffix
        self.base_id = resolved.model_id  # the weights' id, without the precision: names the ONNX query export
        self.batch_size, self.device, self.query_threads = batch_size, device, query_threads
        self.query_backend, self.query_onnx_threads = query_backend, query_onnx_threads
        self.query_precision = query_precision
        self._model = None
        self._queries = None  # the ONNX Runtime query encoder, once tried; False when unavailable
        self._fallback = ""  # why queries are not on ONNX Runtime under query_backend "auto"
        self._lock = threading.RLock()  # the query encoder is opened under it and reads the model
        # a fast tokenizer keeps its padding and truncation settings in shared state: a request's padded batch
        # and an ingest's offsets on two threads at once made each other fail (found by the game day)
        self._tokenizing = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub, even for a missing file
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(self.path, device=self.device)
        except (OSError, ValueError) as e:
            raise ModelNotAvailable(f"cannot load embedding model {self.name!r} from {self.path}: {e}") from None
        if self.precision == "bf16w":
            model.to(torch.bfloat16)  # weights and activations in bf16: no casts around each matmul
        type(self).loads += 1
        return model

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.precision)

    def embed_query(self, text: str) -> np.ndarray:
        encoder = self._query_encoder()
        if encoder:
            return encoder.encode(text)
        return self._torch_query(text)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        encoder = self._query_encoder()
        if encoder and texts:
            return encoder.encode_many(texts)
        return super().embed_queries(texts)

    def _query_encoder(self):
        """ONNX Runtime for single queries (2-3x as fast; ADR 0009) unless query_backend is
        "torch" or, under "auto", the export is impossible (no onnxruntime, not a mean-pooling BERT)."""
        if self._queries is None and self.query_backend != "torch":
            with self._lock:
                if self._queries is None:
                    self._queries = self._open_query_encoder()
        return self._queries or None

    def _open_query_encoder(self):
        reason = self._onnx_unavailable()
        if not reason:
            from ragship.embed.onnx import OnnxQueryEncoder

            return OnnxQueryEncoder(self.path, self.base_id, self.max_tokens, self.query_onnx_threads,
                                    self.query_precision)
        if self.query_backend == "onnx":
            raise ModelNotAvailable(f"embed.query_backend = 'onnx': {reason}")
        self._fallback = reason
        log.warning("single queries are encoded on PyTorch (slower): %s", reason)
        return False

    def _onnx_unavailable(self) -> str:
        """Why the ONNX Runtime query encoder cannot serve this model ("" when it can)."""
        try:
            import onnxruntime  # noqa: F401 - imported only to learn whether it is installed

            from ragship.embed.onnx import check_mean_pooling

            check_mean_pooling(Path(self.path))
        except ImportError:
            return "ONNX Runtime is not installed (`pip install onnxruntime onnx`)"
        except ModelNotAvailable as e:
            return str(e)
        return ""

    def query_encoder(self) -> str:
        """Where single queries are encoded, and why (for `ragship status`), without loading anything."""
        if self.query_backend == "torch":
            return "PyTorch (embed.query_backend = torch)"
        reason = self._fallback if self._queries is False else "" if self._queries else self._onnx_unavailable()
        if reason:
            return f"PyTorch: {reason}"
        return f"ONNX Runtime {self.query_precision}, {self.query_onnx_threads} thread(s)"

    def _torch_query(self, text: str) -> np.ndarray:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(self.query_threads)
        try:
            return self._encode([text], "fp32")[0]
        finally:
            torch.set_num_threads(threads)

    def _encode(self, texts: list[str], precision: str) -> np.ndarray:
        import torch

        model = self.model
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths together: little padding
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for i in range(0, len(texts), self.batch_size):
                idx = order[i:i + self.batch_size]
                with self._tokenizing:
                    features = model.tokenizer([texts[j] for j in idx], padding=True, truncation=True,
                                               max_length=model.max_seq_length, pad_to_multiple_of=PAD_MULTIPLE,
                                               return_tensors="pt")
                features = {k: v.to(self.device) for k, v in features.items()}
                vectors = model(features)["sentence_embedding"].float()
                out[idx] = torch.nn.functional.normalize(vectors, dim=-1).cpu().numpy()
        return out

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        tokenizer = self.model.tokenizer
        with self._tokenizing:
            enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False,
                            verbose=False)
        return [tuple(span) for span in enc["offset_mapping"]]
