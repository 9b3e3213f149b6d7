"""The Typer app, its global options, and how a command finds its collection's engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from ragship.engine import Engine
from ragship.retrieve.filters import Filter, parse_filters
from ragship.settings import load_settings
from ragship.util.names import split_names

# help is plain text: Rich markup would eat the TOML table names it tells users to configure ("[[sources]]")
app = typer.Typer(add_completion=False, no_args_is_help=True, help="Cited answers from your documents.",
                  rich_markup_mode=None)


@app.callback()
def _global(
    ctx: typer.Context,
    home: Optional[Path] = typer.Option(None, "--home", envvar="RAGSHIP_HOME", help="Data home (index, state)."),
    collection: Optional[str] = typer.Option(None, "--collection", envvar="RAGSHIP_COLLECTION",
                                             help="A named collection of the home (created through the API)."),
) -> None:
    ctx.obj = {"home": home, "collection": collection}


def base_engine(ctx: typer.Context) -> Engine:
    """The home's own engine (the default collection): keys and the server belong to the whole home."""
    return Engine(load_settings(home=ctx.obj["home"]))


def engine(ctx: typer.Context) -> Engine:
    default = base_engine(ctx)
    if ctx.obj.get("collection") in (None, "default"):
        return default
    from ragship.collections import Collections

    return Collections(default).get(ctx.obj["collection"])


def caller_filter(specs: list[str], groups: str | None) -> Filter:
    """--filter FIELD=VALUE options and --as-groups, as the library's Filter."""
    return Filter(None if groups is None else frozenset(split_names(groups)), parse_filters(specs))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
