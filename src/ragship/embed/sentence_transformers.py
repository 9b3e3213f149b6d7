"""Embedder on sentence-transformers (PyTorch), loaded lazily and once per instance."""

from __future__ import annotations

import os
import threading

import numpy as np

from ragship.embed.models import resolve_model
from ragship.errors import ModelNotAvailable


class SentenceTransformerEmbedder:
    loads = 0  # models loaded by this class in this process; tests assert on it

    def __init__(self, name: str, *, batch_size: int = 32, device: str = "cpu", query_threads: int = 1):
        resolved = resolve_model(name)  # fails fast, before any work, if the model is not on disk
        self.name, self.path, self.model_id = name, resolved.path, resolved.model_id
        self.batch_size, self.device, self.query_threads = batch_size, device, query_threads
        self._model = None
        self._lock = threading.Lock()

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
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(self.path, device=self.device)
        except (OSError, ValueError) as e:
            raise ModelNotAvailable(f"cannot load embedding model {self.name!r} from {self.path}: {e}") from None
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
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(self.query_threads)
        try:
            return self.embed_batch([text])[0]
        finally:
            torch.set_num_threads(threads)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        enc = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False, verbose=False
        )
        return [tuple(span) for span in enc["offset_mapping"]]
