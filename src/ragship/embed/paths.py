"""The encoder path for document batches, chosen per machine by measurement (`embed.backend = "auto"`).

A path is a library and a precision: torch-bf16 (autocast: float32 weights, bf16 matrix products) and torch-bf16w
(the weights cast to bf16 too), both offered where the CPU computes bf16 natively; torch-fp32; onnx-int8 /
onnx-fp32 where ONNX Runtime is installed; OpenVINO's ov-bf16 (native bf16 only) and ov-fp32 (issue 52), listed
even where OpenVINO is missing or cannot convert the model, then refused with the reason. At first use every
candidate encodes the same sample; the fastest whose vectors stay within `embed.auto_min_cosine` of float32
PyTorch's wins. The choice and each path's measurement are kept in the model cache, keyed by model, CPU and library
versions, so a machine measures once; `ragship status` shows them. A home keeps the path its live version was built
with (engine.py): vectors of two paths never meet in one index.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cache
from importlib import metadata

from ragship.cpu import cpu_has_native_bf16, cpu_model_name, matrix_flags
from ragship.embed.base import Embedder
from ragship.fsio import atomic_write_text

log = logging.getLogger(__name__)

PATHS = ("torch-bf16", "torch-bf16w", "torch-fp32", "onnx-int8", "onnx-fp32", "ov-bf16", "ov-fp32")
# fp32 paths give the same vectors (cosine >= 0.99999) and share the plain model id; the others are marked
SUFFIXES = {"torch-bf16": "+bf16", "torch-bf16w": "+bf16w", "onnx-int8": "+onnx-int8", "ov-bf16": "+ov-bf16"}
CACHE_FILE = "encoder-paths.json"
ROUNDS = 3  # each path's best of three interleaved rounds: single runs here varied by up to ±30 %
CONTENDS = 0.5  # after the first round, a path under half the fastest allowed one's speed is not timed again


def path_of(model_id: str, fp32: str = "torch-fp32") -> str:
    """The path that built vectors with this model id (`fp32` for the plain id, which both fp32 paths write)."""
    return next((p for p, suffix in SUFFIXES.items() if model_id.endswith(suffix)), fp32)


@dataclass
class Trial:
    path: str
    texts_per_s: float = 0.0
    min_cosine: float = 1.0
    refused: str = ""  # why this path may not be chosen; "" when it may


@dataclass
class Choice:
    path: str
    key: str
    measured_at: str
    trials: list[Trial] = field(default_factory=list)

    def describe(self) -> str:
        """One line for `ragship status`: each path's measured speed, and why any was refused."""
        shown = [f"{t.path} {t.texts_per_s:.1f} texts/s (min cosine {t.min_cosine:.5f})"
                 + (f" refused: {t.refused}" if t.refused else "") for t in self.trials]
        return f"{self.path}, measured {self.measured_at[:10]}: " + "; ".join(shown)

    @classmethod
    def from_dict(cls, d: dict) -> Choice:
        return cls(d["path"], d["key"], d["measured_at"], [Trial(**t) for t in d["trials"]])


def candidates(device: str = "cpu") -> list[str]:
    """The paths this machine and install can run: bf16 only with native bf16, ONNX only when installed; OpenVINO's
    on every CPU (a missing or failing OpenVINO shows in the table as the reason its paths were refused)."""
    bf16 = device == "cpu" and cpu_has_native_bf16()
    paths = ["torch-bf16", "torch-bf16w"] if bf16 else []
    paths.append("torch-fp32")
    if device == "cpu" and _installed("onnxruntime"):
        paths += ["onnx-int8", "onnx-fp32"]
    if device == "cpu":
        paths += ["ov-bf16", "ov-fp32"] if bf16 else ["ov-fp32"]
    return paths


def machine_key(model_id: str, device: str = "cpu") -> str:
    """What a measurement holds for: the weights, the CPU and its matrix flags, the cores, the libraries."""
    flags = ",".join(matrix_flags())
    libraries = ",".join(f"{p}={_version(p)}" for p in ("torch", "onnxruntime", "openvino"))
    return f"{model_id}|{device}|{cpu_model_name() or platform.machine()}|{flags}|{os.cpu_count()}|{libraries}"


def choose(model_id: str, build: Callable[[str], Embedder], cache_dir, min_cosine: float,
           device: str = "cpu") -> Choice:
    """The cached choice for this model on this machine, or a new measurement (one process measures; others wait
    for it under a file lock)."""
    from filelock import FileLock

    key, file = machine_key(model_id, device), cache_dir / CACHE_FILE
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(cache_dir / (CACHE_FILE + ".lock")):
        known = _read(file)
        if key in known:
            try:
                return Choice.from_dict(known[key])
            except (KeyError, TypeError) as e:
                log.warning("%s: the entry for %s is malformed (%s): measuring again", file, model_id, e)
        log.warning("measuring this CPU's encoder paths for %s, once per machine (about a minute)", model_id)
        choice = measure(candidates(device), build, min_cosine, key)
        known[key] = asdict(choice)
        atomic_write_text(file, json.dumps(known, indent=1) + "\n")
    log.info("encoder path for %s on this machine: %s", model_id, choice.describe())
    return choice


def measure(paths: list[str], build: Callable[[str], Embedder], min_cosine: float, key: str = "") -> Choice:
    """Time each path on the same sample, in interleaved rounds (a neighbour's burst then slows every path, not
    one), keeping each path's best round; refuse those whose vectors fall below `min_cosine` of float32 PyTorch's."""
    sample, build = sample_texts(), cache(build)  # the reference's model is also the torch-fp32 candidate
    trials = {p: Trial(p) for p in paths}
    # ONNX and OpenVINO first: their exports (a child process each, ~1.2 GB) then meet this process before it holds
    # the others
    first = sorted(paths, key=lambda p: not p.startswith(("onnx", "ov")))
    loaded = {p: m for p in first if (m := _loaded(trials[p], build))}
    models = {p: loaded[p] for p in paths if p in loaded}
    reference = build("torch-fp32").embed_batch(sample)
    seconds = {p: float("inf") for p in models}
    for n in range(ROUNDS):
        for p, model in models.items():
            t = time.perf_counter()
            vectors = model.embed_batch(sample)
            seconds[p] = min(seconds[p], time.perf_counter() - t)
            trials[p].min_cosine = round(float((vectors * reference).sum(1).min()), 5)
            trials[p].texts_per_s = round(len(sample) / seconds[p], 1)
            if trials[p].min_cosine < min_cosine:
                trials[p].refused = f"min cosine {trials[p].min_cosine:.4f} < embed.auto_min_cosine {min_cosine}"
        if n == 0:
            models = contenders(models, trials)
    allowed = [t for t in trials.values() if not t.refused] or [Trial("torch-fp32")]
    best = max(allowed, key=lambda t: t.texts_per_s)
    return Choice(best.path, key, datetime.now(timezone.utc).isoformat(timespec="seconds"), list(trials.values()))


def contenders(models: dict[str, Embedder], trials: dict[str, Trial]) -> dict[str, Embedder]:
    """The paths worth timing again after the first round: allowed (the cosine does not change between rounds) and
    at least CONTENDS of the fastest allowed path's speed (rounds here varied by ±30 %, not 2x). On this Intel Xeon
    four of seven paths drop out: half of the second and third rounds' time."""
    allowed = [p for p in models if not trials[p].refused]
    fastest = max((trials[p].texts_per_s for p in allowed), default=0.0)
    return {p: models[p] for p in allowed if trials[p].texts_per_s >= CONTENDS * fastest}


def _loaded(trial: Trial, build) -> Embedder | None:
    """The path's embedder, loaded (an ONNX export built) outside the timing; None, and the trial refused, when
    it cannot run here."""
    try:
        model = build(trial.path)
        model.embed_batch(sample_texts(4))
        return model
    except Exception as e:  # noqa: BLE001 - a path that cannot run here (export, library) is simply not chosen
        log.warning("encoder path %s cannot run here: %s", trial.path, e)
        trial.refused = f"cannot run: {e}"[:200]
        return None


WORDS = ("the patients in both groups were followed for two years after treatment and the rate of recovery was "
         "measured by independent reviewers who did not know which arm each patient belonged to while the "
         "primary outcome was defined before the study began results show that the new protocol reduced the "
         "number of adverse events compared with standard care although the effect on mortality was not "
         "significant further work should test whether these findings hold in older populations with chronic "
         "disease and in settings where resources are limited").split()


def sample_texts(n: int = 48) -> list[str]:
    """`n` fixed texts of 40-200 words (about 50-260 tokens), the spread of real chunks."""
    return [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(40 + (i * 37) % 161)) for i in range(n)]


def _read(file) -> dict:
    """The cached choices; a missing or unreadable cache is measured again (it holds nothing else)."""
    try:
        data = json.loads(file.read_text())
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("%s is unreadable (%s): measuring the encoder paths again", file, e)
        return {}


def _installed(package: str) -> bool:
    return _version(package) != "none"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"
