"""Embedders on ONNX Runtime: the same sentence-transformers weights, exported locally with torch.onnx and fused
with ORT's BERT optimizer; "int8" also quantizes the MatMul weights per channel (dynamic quantization). Exports
are built once per model and precision in the model cache (`artifact_dir`) and shared by every home and process;
nothing is downloaded.

Measured (ADR 0005, 2 cores with AVX-512 VNNI, 512 SciFact abstracts): PyTorch float32 34-36 texts/s, int8 33.6
with cosine 0.995 (min 0.992) to PyTorch, fused float32 23 texts/s with PyTorch's vectors (cosine >= 0.99999).
`embed.backend = "auto"` times them against PyTorch on each machine (embed/paths.py).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from ragship.embed.base import Embedder
from ragship.embed.resolve import resolve_model
from ragship.errors import ModelNotAvailable
from ragship.fsio import atomic_write_text
from ragship.util.child import run_apart

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PRECISIONS = ("int8", "fp32")


class OnnxEmbedder(Embedder):
    loads = 0

    def __init__(self, name: str, *, precision: str = "int8", batch_size: int = 32, max_tokens: int = 256,
                 threads: int | None = None, query_threads: int = 1):
        if precision not in PRECISIONS:
            raise ValueError(f"ONNX precision must be one of {PRECISIONS}, not {precision!r}")
        resolved = resolve_model(name)
        self.name, self.path, self.precision = name, resolved.path, precision
        # fused float32 gives PyTorch's float32 vectors (cosine >= 0.99999): the same id, so they may share an index
        self.model_id = f"{resolved.model_id}+onnx-int8" if precision == "int8" else resolved.model_id
        self.export_dir = export_dir(resolved.model_id, precision)
        self.batch_size, self.max_tokens, self.threads, self.query_threads = batch_size, max_tokens, threads, \
            query_threads
        self._state = None
        self._lock = threading.Lock()
        self._tokenizing = threading.Lock()  # one call at a time: see SentenceTransformerEmbedder

    @property
    def dim(self) -> int:
        return int(self._load()[2])

    def _load(self):
        with self._lock:
            if self._state is None:
                self._state = self._open()
                type(self).loads += 1
        return self._state

    def _open(self):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelNotAvailable(f"embed.backend = 'onnx-{self.precision}' needs ONNX Runtime: "
                                    "`pip install 'ragship[onnx]'` (onnxruntime, onnx)") from None
        from transformers import AutoTokenizer

        check_mean_pooling(Path(self.path))
        model_file = _exported(Path(self.path), self.export_dir, quantize=self.precision == "int8")
        tokenizer = AutoTokenizer.from_pretrained(self.path)
        session = _session(ort, model_file, self.threads)
        dim = json.loads((Path(self.path) / "config.json").read_text())["hidden_size"]
        return tokenizer, session, dim

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        tokenizer, session, dim = self._load()
        out = np.zeros((len(texts), dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together: less padding
        for i in range(0, len(texts), self.batch_size):
            idx = order[i:i + self.batch_size]
            with self._tokenizing:
                enc = tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=self.max_tokens,
                                return_tensors="np")
            hidden = session.run(None, {k: enc[k].astype(np.int64) for k in INPUTS})[0]
            out[idx] = mean_pooled(hidden, enc["attention_mask"])
        return out

    def query_encoder(self) -> str:
        return f"ONNX Runtime {self.precision} (the onnx-{self.precision} backend's own)"

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        tokenizer = self._load()[0]
        with self._tokenizing:
            enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(span) for span in enc["offset_mapping"]]


def export_dir(model_id: str, precision: str) -> Path:
    """Where the export of this model (its id without any path suffix) in this precision is kept."""
    return artifact_dir() / "onnx" / (model_id.replace("/", "_").replace("=", "_") + f"+{precision}")


def mean_pooled(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Unit-length mean of each text's token vectors (batch, tokens, dim) over its real tokens: the pooling of
    sentence-transformers' mean-pooling models."""
    mask = attention_mask[..., None].astype(np.float32)
    pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def _session(ort, model_file: Path, threads: int | None, spinning: bool = True):
    """An ONNX Runtime CPU session with every graph optimisation; `spinning=False` lets idle threads sleep."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    if not spinning:
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def check_mean_pooling(path: Path) -> None:
    """The ONNX exports pool by mean; sentence-transformers writes the pooling as `pooling_mode_mean_tokens: true`
    (older) or `pooling_mode: "mean"` (newer, e.g. the models `ragship adapt` saves)."""
    pooling = path / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text()) if pooling.exists() else {"pooling_mode": "mean"}
    if not (config.get("pooling_mode_mean_tokens") or config.get("pooling_mode") == "mean"):
        raise ModelNotAvailable(f"{path}: the onnx-int8 backend supports mean-pooling models only; "
                                "use embed.backend = 'torch' for this one")


class OnnxQueryEncoder:
    """Single queries on ONNX Runtime, the model fused for BERT. `precision` "fp32" keeps PyTorch's weights (cosine
    >= 0.9999999 to its vectors); "int8" quantizes the MatMul weights per channel (cosine >= 0.98): a short query
    is bound by reading the weights, so int8 encodes in 2.8 ms against 6.4 ms inside a 100k-chunk search, at a
    small cost in quality for an adapted model (ADR 0009). The export is built once per model id and precision in
    the model cache (`artifact_dir`), under a file lock, and reused by every process."""

    def __init__(self, model_path: str, model_id: str, max_tokens: int, threads: int = 2, precision: str = "fp32"):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        path = Path(model_path)
        check_mean_pooling(path)
        model_file = _exported(path, export_dir(model_id, precision), quantize=precision == "int8")
        # idle threads sleep: LanceDB and the cross-encoder run right after on the same 2 cores
        self.session = _session(ort, model_file, threads, spinning=False)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.max_tokens, self.precision = max_tokens, precision
        self._tokenizing = threading.Lock()  # concurrent requests: one call at a time (see above)

    def encode(self, text: str) -> np.ndarray:
        return self.encode_many([text])[0]

    def encode_many(self, texts: list[str]) -> np.ndarray:
        """Several queries in one run, padded to the longest (the mask keeps each one's vector its own)."""
        with self._tokenizing:
            enc = self.tokenizer(texts, truncation=True, max_length=self.max_tokens, padding=True, return_tensors="np")
        hidden = self.session.run(None, {k: enc[k].astype(np.int64) for k in INPUTS})[0]
        return mean_pooled(hidden, enc["attention_mask"]).astype(np.float32)


def _exported(model_path: Path, dest: Path, quantize: bool) -> Path:
    """The export in `dest`, made first if missing (another process may be making it: a file lock), by a child
    process: what the export leaves in the heap returns to the system with it."""
    from filelock import FileLock

    model_file = dest / ("model_int8.onnx" if quantize else "model_fused.onnx")
    if not model_file.exists():
        dest.mkdir(parents=True, exist_ok=True)
        with FileLock(dest / ".lock"):
            if not model_file.exists():  # in a process of its own: tracing leaves ~500 MB in the heap
                run_apart(export, model_path, dest, quantize, what=f"exporting {model_path} to ONNX")
    return model_file


def artifact_dir() -> Path:
    """Where derived model files (ONNX exports) are kept across homes: $RAGSHIP_MODEL_CACHE or ~/.cache/ragship."""
    return Path(os.environ.get("RAGSHIP_MODEL_CACHE") or Path.home() / ".cache" / "ragship")


def export(model_path: Path, dest: Path, quantize: bool) -> Path:
    """Export the transformer to ONNX and fuse it for BERT (model_fused.onnx); with `quantize`, also quantize
    MatMul weights to int8 per channel (model_int8.onnx). The finished file appears atomically."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    dest.mkdir(parents=True, exist_ok=True)
    config = AutoConfig.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    sample = AutoTokenizer.from_pretrained(model_path)(["an example", "another, longer example"], padding=True,
                                                        return_tensors="pt")

    class LastHidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    fp32, fused, int8 = dest / "model.onnx", dest / "model_fused.onnx", dest / "model_int8.onnx"
    fused_tmp = dest / "model_fused.tmp.onnx"
    torch.onnx.export(LastHidden(model), tuple(sample[k] for k in INPUTS), str(fp32), input_names=list(INPUTS),
                      output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                      dynamic_axes={n: {0: "batch", 1: "seq"} for n in (*INPUTS, "last_hidden_state")})
    optimize_model(str(fp32), model_type="bert", num_heads=config.num_attention_heads,
                   hidden_size=config.hidden_size).save_model_to_file(str(fused_tmp))
    fp32.unlink(missing_ok=True)
    atomic_write_text(dest / "SOURCE", f"{model_path}\n")
    if not quantize:
        fused_tmp.replace(fused)  # a crash mid-export leaves no half model under the final name
        return fused
    tmp = dest / "model_int8.onnx.tmp"
    quantize_dynamic(str(fused_tmp), str(tmp), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                     op_types_to_quantize=["MatMul"], extra_options={"DefaultTensorType": 1})
    tmp.replace(int8)
    fused_tmp.unlink(missing_ok=True)
    return int8
