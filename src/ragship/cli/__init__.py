"""The `ragship` command line: each command parses its arguments, calls the library once and renders the result
(cli/render.py). Commands live one module per group; importing them registers them on `app` (cli/app.py: the
Typer app, its global options, and how a command finds its collection's engine)."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from ragship.cli import (  # noqa: F401 - importing a command module registers its commands
    chat, collections, documents, incidents, keys, learn, monitor, quality, query, questions, release, service)
from ragship.cli.app import app
from ragship.cli.render import err
from ragship.errors import RagshipError, storage_error
from ragship.util.quiet import quiet_libraries

__all__ = ["app", "main"]


def main() -> None:
    quiet_libraries()
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
        e.show()  # type: ignore[attr-defined]  # every one Typer raises is its Click's ClickException
        sys.exit(e.exit_code)
    except Exception as e:  # a disk that is full or read-only
        disk = storage_error(e)
        if disk is None:
            raise
        err.print(f"[red]error:[/red] {escape(str(disk))}", highlight=False)
        sys.exit(disk.exit_code)
