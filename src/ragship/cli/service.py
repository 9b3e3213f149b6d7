"""`ragship status` and `ragship serve`."""

from __future__ import annotations

import typer

from ragship.access import KeyStore, bind_warning
from ragship.cli.app import app, base_engine, engine, print_json
from ragship.cli.render import err, out


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Live version, counts, models, settings and the last ingest's failures."""
    s = engine(ctx).status()
    if as_json:
        return print_json(s)
    out.print(f"home         {s['home']}", highlight=False)
    out.print(f"live version {s['live_version'] or '(none: run `ragship ingest PATH`)'}", highlight=False)
    out.print(f"documents    {s['documents']}    chunks {s['chunks']}", highlight=False)
    out.print(f"model        {s['model'] or s['settings']['embed']['model']}", highlight=False)
    out.print(f"queries      {s['query_encoder']}", highlight=False)
    out.print(f"reranker     {s['reranker']}", highlight=False)
    out.print(f"generator    {s['generator']}", highlight=False)
    out.print(f"versions     {', '.join(s['versions']) or '-'}", highlight=False)
    if s["failures"]:
        out.print(f"[red]{len(s['failures'])} inputs failed[/red] (fix them, then `ragship ingest --retry-failed`):")
        for f in s["failures"]:
            out.print(f"  {f['path']}: {f['reason']} (attempts {f['attempts']}, since {f['first_failed']})",
                      highlight=False)


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve beyond loopback without any API key (unsafe)."),
) -> None:
    """Serve the HTTP API and the web UI. With no API key, only on a loopback address (or with --no-auth)."""
    import uvicorn

    from ragship.server.app import create_app

    default = base_engine(ctx)
    warning = bind_warning(host, KeyStore(default.home.keys), no_auth)
    if warning:
        err.print(f"[bold red]WARNING: {warning}[/bold red]", highlight=False)
    err.print(f"ragship serving {default.home} on http://{host}:{port}  (API docs: /docs)", highlight=False)
    uvicorn.run(create_app(default), host=host, port=port, log_level="warning")
