"""Embedders on OpenVINO (issue 52): the same sentence-transformers weights, converted locally from the PyTorch
module with `openvino.convert_model` and compiled for this CPU, bf16 where it computes bf16 natively (AMX,
AVX512-BF16) and f32 elsewhere. OpenVINO fuses what eager PyTorch runs as small kernels between the matmuls
(LayerNorm, GELU, attention's softmax): ADR 0019 measured 1.3x torch-bf16w per batch on AMX.

The converted model (model.xml/.bin) and OpenVINO's compiled blobs (its CACHE_DIR) are kept in the model cache,
keyed by model id and OpenVINO version (`convert_dir`), so a start neither converts nor compiles again. Mean
pooling and normalization are the other paths' (onnx.mean_pooled); nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ragship.embed.base import Embedder
from ragship.embed.resolve import resolve_model
from ragship.embed.onnx import artifact_dir, check_mean_pooling, mean_pooled
from ragship.errors import ModelNotAvailable
from ragship.util.child import run_apart

PIN = "openvino==2026.4.1"
PRECISIONS = {"bf16": "bf16", "fp32": "f32"}  # ours -> OpenVINO's INFERENCE_PRECISION_HINT
# as the torch path: few distinct shapes, so the CPU plugin keeps few compiled kernels (SciFact chunks: 6 shapes
# instead of 24, 3-8 % faster than no padding; ADR 0019, "OpenVINO paths")
PAD_MULTIPLE = 16
# document batches on one stream over all cores: on the chooser's sample (3 batches) "THROUGHPUT"'s stream per core
# left one core idle for the third batch (203-206 vs 212 texts/s); on whole ingest parts the two were even
HINT = "LATENCY"
REQUESTS = 2  # batches in flight: the next one is tokenized while one runs


class OpenVinoEmbedder(Embedder):
    loads = 0  # models compiled by this class in this process; tests assert on it

    def __init__(self, name: str, *, precision: str = "bf16", batch_size: int = 16, threads: int | None = None,
                 query_threads: int = 2, hint: str = HINT):
        if precision not in PRECISIONS:
            raise ValueError(f"OpenVINO precision must be one of {tuple(PRECISIONS)}, not {precision!r}")
        resolved = resolve_model(name)
        self.name, self.path, self.precision, self.hint = name, resolved.path, precision, hint
        # f32 gives PyTorch's float32 vectors (cosine >= 0.9999999): the plain id, as onnx-fp32
        self.model_id = resolved.model_id + ("+ov-bf16" if precision == "bf16" else "")
        self.base_id = resolved.model_id
        self.batch_size, self.query_threads = batch_size, query_threads
        # an xdist worker (ADR 0020) or a user limits compute threads with OMP_NUM_THREADS: OpenVINO honours it too
        self.threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or None
        self._state: dict | None = None
        self._documents: Any = None  # the inference queue of document batches, compiled on the first batch
        self._queries: Any = None  # OpenVINO's InferRequest for single queries, made on the first one
        self._lock = threading.Lock()
        self._running = threading.Lock()  # one batch at a time through the inference queue
        self._tokenizing = threading.Lock()  # a fast tokenizer's padding settings are shared state

    @property
    def dim(self) -> int:
        return self._load()["dim"]

    @property
    def max_tokens(self) -> int:
        return self._load()["max_tokens"]

    def _load(self) -> dict:
        with self._lock:
            if self._state is None:
                self._state = self._open()
                type(self).loads += 1
        return self._state

    def _open(self) -> dict:
        """The converted model and the tokenizer; what is compiled waits for its first use (a server that only
        answers queries never compiles the document model: 0.4-0.6 s of each start here)."""
        ov = _openvino()
        from transformers import AutoTokenizer

        path = Path(self.path)
        _check_mean_pooling(path)
        model_file = converted(path, convert_dir(self.base_id))
        tokenizer = AutoTokenizer.from_pretrained(path)
        dim = ov.Core().read_model(str(model_file)).output(0).get_partial_shape()[2].get_length()
        return {"ov": ov, "model_file": model_file, "tokenizer": tokenizer, "dim": dim,
                "inputs": list(tokenizer.model_input_names), "max_tokens": _max_tokens(path)}

    def _document_queue(self, state: dict):
        """The document model compiled in this path's precision, with REQUESTS batches in flight."""
        with self._lock:
            if self._documents is None:
                compiled = compile_model(state["ov"], state["model_file"], self.precision, self.hint, self.threads)
                self._documents = state["ov"].AsyncInferQueue(
                    compiled, max(REQUESTS, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        return self._documents

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        state = self._load()
        queue = self._document_queue(state)
        out = np.zeros((len(texts), state["dim"]), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths together: little padding
        errors: list[BaseException] = []

        def pooled(request, userdata) -> None:  # on OpenVINO's thread, when a batch is done
            idx, mask = userdata
            try:
                out[idx] = mean_pooled(request.get_output_tensor(0).data, mask)
            except BaseException as e:  # noqa: BLE001 - raised below, on the caller's thread
                errors.append(e)

        with self._running:
            queue.set_callback(pooled)
            for i in range(0, len(texts), self.batch_size):
                idx = order[i:i + self.batch_size]
                enc = self._tokenize(state, [texts[j] for j in idx], PAD_MULTIPLE)
                queue.start_async({k: enc[k] for k in state["inputs"]}, (idx, enc["attention_mask"]))
            queue.wait_all()
        if errors:
            raise errors[0]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Single queries in f32 (ADR 0007: faster at batch 1, and float32's vectors), on `query_threads`."""
        state = self._load()
        with self._lock:
            if self._queries is None:
                compiled = compile_model(state["ov"], state["model_file"], "fp32", "LATENCY", self.query_threads)
                self._queries = compiled.create_infer_request()
            enc = self._tokenize(state, [text], None)
            hidden = self._queries.infer({k: enc[k] for k in state["inputs"]})[0]
        return mean_pooled(hidden, enc["attention_mask"])[0].astype(np.float32)

    def _tokenize(self, state: dict, texts: list[str], pad_multiple: int | None):
        with self._tokenizing:
            return state["tokenizer"](texts, padding=True, truncation=True, max_length=state["max_tokens"],
                                      pad_to_multiple_of=pad_multiple, return_tensors="np")

    def query_encoder(self) -> str:
        return f"OpenVINO f32, {self.query_threads} thread(s) (the ov-{self.precision} path's own)"

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        tokenizer = self._load()["tokenizer"]
        with self._tokenizing:
            enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(span) for span in enc["offset_mapping"]]


def compile_model(ov, model_file: Path, precision: str, hint: str, threads: int | None):
    """The converted model compiled for this CPU; OpenVINO keeps the compiled blob in CACHE_DIR beside it and
    loads that on the next start instead of compiling."""
    config: dict[str, str | int] = {"INFERENCE_PRECISION_HINT": PRECISIONS[precision], "PERFORMANCE_HINT": hint,
              "CACHE_DIR": str(model_file.parent / "compiled")}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    return ov.Core().compile_model(str(model_file), "CPU", config)


def convert_dir(model_id: str) -> Path:
    """Where this model (its id without a path suffix), converted by this OpenVINO version, is kept."""
    return artifact_dir() / "openvino" / (model_id.replace("/", "_").replace("=", "_") + f"+ov-{_version()}")


def converted(model_path: Path, dest: Path) -> Path:
    """The converted model in `dest`, converted first if missing (another process may be converting: a file
    lock), in a child process: tracing leaves ~500 MB in the heap."""
    from filelock import FileLock

    model_file = dest / "model.xml"
    if not model_file.exists():
        dest.mkdir(parents=True, exist_ok=True)
        with FileLock(dest / ".lock"):
            if not model_file.exists():
                run_apart(convert, model_path, dest, what=f"converting {model_path} to OpenVINO")
    return model_file


def convert(model_path: Path, dest: Path) -> Path:
    """Trace the transformer (token vectors out, dynamic batch and length) into OpenVINO's IR, weights kept in
    float32. The .bin lands before the .xml, which appears last and atomically: an .xml means a whole model."""
    import openvino as ov
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(model_path).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    sample = tokenizer(["an example", "another, longer example"], padding=True, return_tensors="pt")

    class TokenVectors(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    with torch.inference_mode():
        ir = ov.convert_model(TokenVectors(model), example_input={k: sample[k] for k in tokenizer.model_input_names})
    ir.reshape({port.get_any_name(): ov.PartialShape([-1, -1]) for port in ir.inputs})
    tmp = dest / f"converting-{os.getpid()}"
    ov.save_model(ir, tmp / "model.xml", compress_to_fp16=False)  # the default would halve the weights to fp16
    (tmp / "model.bin").replace(dest / "model.bin")
    (tmp / "model.xml").replace(dest / "model.xml")
    tmp.rmdir()
    return dest / "model.xml"


def _openvino():
    try:
        import openvino
    except ImportError:
        raise ModelNotAvailable(f"OpenVINO is not installed: `pip install {PIN}`") from None
    return openvino


def _version() -> str:
    try:
        return metadata.version("openvino")
    except metadata.PackageNotFoundError:
        raise ModelNotAvailable(f"OpenVINO is not installed: `pip install {PIN}`") from None


def _check_mean_pooling(path: Path) -> None:
    try:
        check_mean_pooling(path)
    except ModelNotAvailable:
        raise ModelNotAvailable(f"{path}: the OpenVINO paths support mean-pooling models only; "
                                "use embed.backend = 'torch' for this one") from None


def _max_tokens(path: Path) -> int:
    """The model's window as sentence-transformers reads it (sentence_bert_config.json), else 256."""
    config = path / "sentence_bert_config.json"
    return int(json.loads(config.read_text()).get("max_seq_length") or 256) if config.exists() else 256
