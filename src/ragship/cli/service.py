"""`ragship status` and `ragship serve`."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ragship.access import KeyStore, bind_warning
from ragship.cli.app import app, base_engine, engine, print_json
from ragship.cli.render import err, out


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Live version, counts, models, settings, the last ingest's failures and the newest improvement runs."""
    s = engine(ctx).status()
    s["improve"] = _improvement(ctx)
    if as_json:
        return print_json(s)
    out.print(f"home         {s['home']}", highlight=False)
    out.print(f"live version {s['live_version'] or '(none: run `ragship ingest PATH`)'}", highlight=False)
    out.print(f"documents    {s['documents']}    chunks {s['chunks']}", highlight=False)
    out.print(f"model        {s['model'] or s['settings']['embed']['model']}", highlight=False)
    if s["encoder"]:
        e = s["encoder"]
        out.print(f"encoder      {e['path']} ({e['chosen_by']})", highlight=False)
        if e["measured"]:
            out.print(f"             {e['measured']}", highlight=False)
    out.print(f"queries      {s['query_encoder']}", highlight=False)
    out.print(f"reranker     {s['reranker']}", highlight=False)
    out.print(f"generator    {s['generator']}", highlight=False)
    out.print(f"QA model     {_qa_model(s)}", highlight=False)
    out.print(f"confidence   {_calibration(s['calibration'])}", highlight=False)
    out.print(f"versions     {', '.join(s['versions']) or '-'}", highlight=False)
    for run in (s["improve"] or {}).get("runs", [])[:1]:
        out.print(f"improvement  {run['status']} ({escape(run['trigger'])}): {escape(run.get('reason') or '')}",
                  highlight=False)
    if s["failures"]:
        out.print(f"[red]{len(s['failures'])} inputs failed[/red] (fix them, then `ragship ingest --retry-failed`):")
        for f in s["failures"]:
            out.print(f"  {f['path']}: {f['reason']} (attempts {f['attempts']}, since {f['first_failed']})",
                      highlight=False)


def _qa_model(s: dict) -> str:
    if not s["qa_model"]:
        return "none (answer.qa_model; `ragship adapt DATA --qa-model` trains one)"
    t = s["qa_model_trained"]
    return s["qa_model"] + (f" (trained on {' + '.join(t['data'])}, {t['epochs']} epoch(s); held-out answerability "
                            f"AUC {t['held_out_auc']})" if t else "")


def _calibration(c: dict | None) -> str:
    if not c:
        return "not calibrated: a two-feature default (`ragship calibrate DATASET` fits one)"
    v, fitted, prior = c["validation"], c["fitted_on"], c["question_prior"]
    return (f"calibrated on {fitted.get('dataset')} ({fitted.get('version')}"
            + ("" if c["current"] else ", not the live version") + f"), threshold {c['threshold']} for "
            f"{c['target']}: out of fold {v.get('answer_rate', 0):.1%} answered, {v.get('abstain_rate', 0):.1%} "
            f"abstained" + (f"; a question prior on {prior['answerable'] + prior['unanswerable']} questions"
                            if prior else ""))


def _improvement(ctx: typer.Context) -> dict | None:
    """The collection's improvement runs, when its state store can be read (status works without one too)."""
    from ragship.collections import Collections
    from ragship.errors import RagshipError
    from ragship.oversight import Oversight

    try:
        return Oversight(Collections(base_engine(ctx))).learning(ctx.obj.get("collection")).status()
    except RagshipError:
        return None


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes on this machine, sharing the port, "
                                "the index and the state store (one model copy each)."),
    ray: bool = typer.Option(False, "--ray", help="Serve as Ray Serve replicas (autoscaled up to --replicas)."),
    replicas: int = typer.Option(2, "--replicas", min=1, help="With --ray: the most replicas."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="With --ray: a Ray cluster (default: "
                                              "start a local one)."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve beyond loopback without any API key (unsafe)."),
) -> None:
    """Serve the HTTP API and the web UI. With no API key, only on a loopback address (or with --no-auth)."""
    import uvicorn

    from ragship.server.app import create_app

    _check_port(host, port)  # before "serving on": uvicorn's own bind failure is a raw "[Errno 98]" after it
    default = base_engine(ctx)
    _link_runbooks(default.settings.monitor, host, port)
    warning = bind_warning(host, KeyStore(default.state), no_auth)
    if warning:
        err.print(f"[bold red]WARNING: {warning}[/bold red]", highlight=False)
    processes = f" with up to {replicas} Ray Serve replicas" if ray else \
        f" with {workers} worker processes" if workers > 1 else ""
    err.print(f"ragship serving {default.home} on http://{host}:{port}{processes}  (API docs: /docs)",
              highlight=False)
    if ray:
        from ragship.server import ray_serve

        return ray_serve.run(str(default.home.root.resolve()), host, port, replicas, ray_address)
    # h11, not httptools: httptools answers a long URL (a 100k-character ?q=) with its own text/plain 400 before
    # the app can say what is wrong; h11 costs ~0.1 ms a request (measured), under 1 % of a search
    if workers == 1:
        return uvicorn.run(create_app(default), host=host, port=port, log_level="warning", http="h11")
    with _worker_environment(default.home.root):
        uvicorn.run("ragship.server.app:from_environment", factory=True, workers=workers, host=host, port=port,
                    log_level="warning", http="h11")


def _check_port(host: str, port: int) -> None:
    """Bind `host:port` as uvicorn will (SO_REUSEADDR: a port left in TIME_WAIT is free) and let it go; Conflict
    when another process listens there, InputError when the address cannot be bound here at all."""
    import errno
    import socket

    from ragship.errors import Conflict, InputError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise InputError(f"cannot serve on --host {host}: {e.strerror}") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise Conflict(f"port {port} on {host} is already in use by another process: serve on another "
                               f"with `--port N`, or stop the process that holds it") from None
            raise InputError(f"cannot serve on {host}:{port}: {e.strerror}") from None


def _link_runbooks(monitor, host: str, port: int) -> None:
    """Alert runbook links to this server's own /runbooks (unless monitor.runbook_base_url names a place), with
    this machine's name when bound to every address; worker processes read it from the environment."""
    if not monitor.runbook_base_url:
        import socket

        name = socket.getfqdn() if host in ("0.0.0.0", "::", "") else host
        monitor.runbook_base_url = f"http://{name}:{port}/runbooks"
        os.environ["RAGSHIP_MONITOR__RUNBOOK_BASE_URL"] = monitor.runbook_base_url


@contextmanager
def _worker_environment(home: Path):
    """What each worker process reads: this home, and one folder where the workers' Prometheus metrics meet."""
    with tempfile.TemporaryDirectory(prefix="ragship-metrics-") as metrics_dir:
        saved = {k: os.environ.get(k) for k in ("RAGSHIP_HOME", "PROMETHEUS_MULTIPROC_DIR")}
        os.environ.update(RAGSHIP_HOME=str(home.resolve()), PROMETHEUS_MULTIPROC_DIR=metrics_dir)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@app.command()
def mcp(ctx: typer.Context, key: Optional[str] = typer.Option(
        None, "--key", envvar="RAGSHIP_MCP_KEY", help="Read as this API key (its groups); default: every document.")
        ) -> None:
    """Serve the MCP tools (search, ask, list_documents, get_document) over stdio, for Claude Desktop, Cursor and
    IDE agents; `ragship serve` offers the same at /mcp over HTTP."""
    import anyio

    from ragship.access import LOCAL
    from ragship.collections import Collections
    from ragship.errors import Unauthorized
    from ragship.oversight import Oversight
    from ragship.server import mcp_tools

    default = base_engine(ctx)
    keys = KeyStore(default.state)
    principal = keys.authenticate(key) if key else LOCAL
    if principal is None:
        raise Unauthorized("--key (or RAGSHIP_MCP_KEY) is not a valid key; `ragship keys list` shows the keys")
    default.warm_up()
    collections = Collections(default)
    log = Oversight(collections).query_log
    server = mcp_tools.build(collections, keys, anyio.to_thread.run_sync, log, principal)
    server.run("stdio")
