"""`ragship keys create | list | revoke`."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from ragship.access import KeyStore
from ragship.cli.app import app, base_engine, print_json
from ragship.cli.render import err, out
from ragship.util.names import split_names

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _keys(ctx: typer.Context) -> KeyStore:
    return KeyStore(base_engine(ctx).state)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    role: str = typer.Option(..., "--role", help="reader | editor | admin"),
    groups: str = typer.Option("", "--groups", help="Comma-separated groups whose documents the key may read."),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    secret, record = _keys(ctx).create(role, list(split_names(groups)), name)
    if as_json:
        return print_json({"key": secret, "id": record.id, "role": record.role, "groups": record.groups})
    out.print(secret, highlight=False)
    readable = "all (an admin reads everything)" if record.role == "admin" else \
        ", ".join(record.groups) or "(none: public only)"
    err.print(f"key {record.id}: role {record.role}, groups {readable}. Store it now; it cannot be shown again.",
              highlight=False)


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List keys (ids, roles, groups; never the secrets)."""
    records = list(_keys(ctx).records().values())
    if as_json:
        return print_json([{"id": r.id, "role": r.role, "groups": r.groups, "name": r.name,
                            "created_at": r.created_at, "revoked": r.revoked} for r in records])
    table = Table(title=f"API keys ({len(records)})")
    for column in ("id", "name", "role", "groups", "created", "revoked"):
        table.add_column(column)
    for r in records:
        table.add_row(r.id, escape(r.name or "-"), r.role, escape(",".join(r.groups) or "-"), r.created_at,
                      "yes" if r.revoked else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str) -> None:
    """Revoke a key by id: its requests get 401 from the next request on."""
    record = _keys(ctx).revoke(key_id)
    err.print(f"key {record.id} revoked", highlight=False)
