"""`ragship collections list | create | delete`."""

from __future__ import annotations

import json

import typer

from ragship.cli.app import app, base_engine, print_json
from ragship.cli.render import err, out
from ragship.collections import Collections
from ragship.errors import InputError

collections_app = typer.Typer(help="Named collections: each its own index, settings and versions.",
                              no_args_is_help=True)
app.add_typer(collections_app, name="collections")


def _collections(ctx: typer.Context) -> Collections:
    return Collections(base_engine(ctx))


@collections_app.command("list")
def collections_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    c = _collections(ctx)
    rows = [c.describe(name) for name in c.names()]
    if as_json:
        return print_json(rows)
    for r in rows:
        out.print(f"{r['name']:<24} {r['live_version'] or '-':<6} {r['documents']} documents", highlight=False)


@collections_app.command("create")
def collections_create(
    ctx: typer.Context,
    name: str,
    settings: str = typer.Option("{}", "--settings",
                                 help='JSON of sections to override, e.g. \'{"search": {"top_k": 5}}\'.'),
) -> None:
    """Create a collection; then `ragship --collection NAME ingest PATH`."""
    try:
        overrides = json.loads(settings)
    except json.JSONDecodeError as e:
        raise InputError(f"--settings is not JSON ({e.msg}); e.g. '{{\"search\": {{\"top_k\": 5}}}}'") from None
    _collections(ctx).create(name, overrides)
    err.print(f"collection {name} created; ingest with `ragship --collection {name} ingest PATH`", highlight=False)


@collections_app.command("delete")
def collections_delete(ctx: typer.Context, name: str) -> None:
    """Delete a collection and its index."""
    _collections(ctx).delete(name)
    err.print(f"collection {name} deleted", highlight=False)
