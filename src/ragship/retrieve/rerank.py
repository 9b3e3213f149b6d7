"""Cross-encoder reranking of the top fused candidates: the model reads query and chunk together, which a
bi-encoder cannot. Loaded lazily and once, with sentence-transformers' CrossEncoder, from a local path or the
local Hugging Face cache only (nothing is downloaded; none ships on PyPI, so the stage is off by default and
`ragship adapt --reranker` trains one from the local MiniLM weights)."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ragship.embed.resolve import resolve_model
from ragship.cpu import cpu_has_native_bf16
from ragship.errors import ModelNotAvailable
from ragship.types import Hit

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder


MAX_LENGTH = 256
RERANK_BATCH = 10  # rerank.batch_size's default: 20 SciFact pairs in 174 ms at 10 a pass (20: 197, 5: 187)


class Reranker(Protocol):
    model_id: str

    def scores(self, query: str, texts: list[str]) -> np.ndarray:
        """Relevance of each text to the query (higher is better)."""


class CrossEncoderReranker:
    loads = 0

    def __init__(self, name: str, batch_size: int = RERANK_BATCH):
        try:
            resolved = resolve_model(name)
        except ModelNotAvailable as e:
            raise ModelNotAvailable(f"rerank.model: {e}") from None
        self.name, self.path, self.model_id, self.batch_size = name, resolved.path, resolved.model_id, batch_size
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from sentence_transformers import CrossEncoder

                try:
                    self._model = CrossEncoder(self.path, device="cpu", max_length=MAX_LENGTH)
                except (OSError, ValueError) as e:
                    raise ModelNotAvailable(f"cannot load cross-encoder {self.name!r} from {self.path}: {e}") from None
                if cpu_has_native_bf16():
                    import torch

                    # weights cast once, not at every product as under autocast: 216 vs 244 ms for 20 pairs inside
                    # a search at 100k chunks (ADR 0009); scores within 0.002 of float32
                    self._model.model.to(torch.bfloat16)
                type(self).loads += 1
        return self._model

    def scores(self, query: str, texts: list[str]) -> np.ndarray:
        """Pairs sorted by length and scored in batches of `batch_size` padded to a multiple of 16 tokens, in bf16
        where the CPU has it natively (ADR 0007); the model's activation (sigmoid for one label) applied as
        CrossEncoder.predict does. Scores match predict's float32 ones within 0.002."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        import torch

        model = self.model
        lengths = [len(model.tokenizer(query, t, truncation=True, max_length=MAX_LENGTH)["input_ids"]) for t in texts]
        order = np.argsort(lengths, kind="stable")
        out = np.zeros(len(texts), dtype=np.float32)
        activation = getattr(model, "activation_fn", None) or torch.nn.Identity()
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                idx = order[i:i + self.batch_size]
                features = model.tokenizer([query] * len(idx), [texts[j] for j in idx], padding=True, truncation=True,
                                           max_length=MAX_LENGTH, pad_to_multiple_of=16, return_tensors="pt")
                logits = model.model(**features).logits.float()
                out[idx] = activation(logits).reshape(-1).numpy()
        return out


def describe_reranker(reranker: Reranker | None, top_n: int) -> str:
    """What `ragship status` says about reranking."""
    if reranker is None:
        return "off: no cross-encoder configured (set rerank.model, or train one: ragship adapt --reranker)"
    return f"{reranker.model_id} (top {top_n})"


def rerank(reranker: Reranker, query: str, hits: list[Hit], top_n: int) -> list[Hit]:
    """The top_n hits re-ordered by the cross-encoder's score (which becomes their score), the rest after them."""
    head, tail = hits[:top_n], hits[top_n:]
    scores = reranker.scores(query, [f"{h.title}\n{h.text}" if h.title else h.text for h in head])
    ordered = [h for _, h in sorted(zip(scores, head), key=lambda sh: -sh[0])]
    ranked = [replace(h, score=float(s), rank=i) for i, (s, h) in
              enumerate(zip(sorted(scores, reverse=True), ordered), 1)]
    return ranked + [replace(h, rank=len(ranked) + i) for i, h in enumerate(tail, 1)]
