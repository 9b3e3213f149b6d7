"""The `ragship` command line: each command parses its arguments, calls the library once and renders the result
(cli/render.py). Commands live one module per group; importing them registers them on `app`."""

from __future__ import annotations

import logging
import sys

import typer
from rich.markup import escape

from ragship.cli import (  # noqa: F401 - importing a command module registers its commands
    collections, documents, incidents, keys, learn, monitor, quality, query, release, service)
from ragship.cli.app import app
from ragship.cli.render import err
from ragship.errors import RagshipError, storage_error

__all__ = ["app", "main"]


def _quiet_libraries() -> None:
    """What the libraries print on their own (weight-loading bars, an ONNX export's tracer warnings) is not the
    user's business: ragship says what it is doing itself."""
    import os
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean")  # torch's TracerWarning
    warnings.filterwarnings("ignore", module=r"torch\.onnx")
    logging.getLogger().addFilter(lambda record: "before quantization" not in record.getMessage())  # onnxruntime


def main() -> None:
    _quiet_libraries()
    try:
        code = app(standalone_mode=False)  # click returns the code of a typer.Exit here
        sys.exit(code if isinstance(code, int) else 0)
    except RagshipError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as e:  # a usage error (Typer's own Click): the usage line and what is wrong, exit 2
        e.show()
        sys.exit(e.exit_code)
    except Exception as e:  # a disk that is full or read-only
        disk = storage_error(e)
        if disk is None:
            raise
        err.print(f"[red]error:[/red] {escape(str(disk))}", highlight=False)
        sys.exit(disk.exit_code)
