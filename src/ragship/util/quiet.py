"""What libraries print on their own that is not the user's business (weight-loading bars, an ONNX export's tracer
warnings, onnxruntime's quantization hint): silenced in the CLI and in the child processes it starts
(util/child.py), by their known messages only; every other warning still shows."""

from __future__ import annotations

import logging
import os
import warnings

# torch.jit.TracerWarning's messages (torch/jit/_trace.py, torch/_tensor.py): an ONNX export traces the model,
# whose Python-side checks on shapes are fixed at their traced values, as intended for our fixed-shape exports
TRACER = (r"(Converting a tensor to a (Python|NumPy)|torch\.tensor results are registered as constants|"
          r"Iterating over a tensor might cause)")
QUANTIZATION_HINT = "before quantization"  # onnxruntime.quantization's logging.warning about pre-processing


def quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", message=TRACER)
    warnings.filterwarnings("ignore", module=r"torch\.onnx")
    root = logging.getLogger()
    if not any(getattr(f, "__name__", "") == "_not_quantization_hint" for f in root.filters):
        root.addFilter(_not_quantization_hint)


def _not_quantization_hint(record: logging.LogRecord) -> bool:
    return QUANTIZATION_HINT not in record.getMessage()
