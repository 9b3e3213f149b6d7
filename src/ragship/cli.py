"""The `ragship` command line: parses arguments, calls the Engine, prints. No logic lives here."""

from __future__ import annotations

import contextlib

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from ragship.engine import Engine
from ragship.errors import PARTIAL_EXIT, EmptyCorpus, InputError, RagshipError
from ragship.retrieve.filters import Filter, parse_filters
from ragship.settings import load_settings, write_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Cited answers from your documents.")
out = Console(soft_wrap=True)  # soft wrap: long paths and reasons stay on one greppable line
err = Console(stderr=True, soft_wrap=True)
TUNE_ROWS = 15  # `tune` prints the best settings and the Pareto front; --json has every trial


@app.callback()
def _global(
    ctx: typer.Context,
    home: Optional[Path] = typer.Option(None, "--home", envvar="RAGSHIP_HOME", help="Data home (index, state)."),
    collection: Optional[str] = typer.Option(None, "--collection", envvar="RAGSHIP_COLLECTION",
                                             help="A named collection of the home (created through the API)."),
) -> None:
    ctx.obj = {"home": home, "collection": collection}


def _base_engine(ctx: typer.Context) -> Engine:
    """The home's own engine (the default collection): keys and the server belong to the whole home."""
    return Engine(load_settings(home=ctx.obj["home"]))


def _engine(ctx: typer.Context) -> Engine:
    engine = _base_engine(ctx)
    if ctx.obj.get("collection") in (None, "default"):
        return engine
    from ragship.collections import Collections

    return Collections(engine).get(ctx.obj["collection"])


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


class _Progress:
    """Per-stage progress: Rich bars with rate and ETA on a terminal, a plain line every few seconds otherwise,
    nothing at all with --json (stdout then carries only the JSON document)."""

    PLAIN_EVERY_S = 5.0

    def __init__(self, quiet: bool = False):
        self.quiet, self.tty = quiet, err.is_terminal
        self.rich = Progress(TextColumn("{task.description:>6}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TimeElapsedColumn(),
                             console=err, disable=quiet or not self.tty)
        self.tasks: dict[str, Any] = {}
        self.counts: dict[str, list] = {}  # stage -> [done, total, started]
        self.last_line = time.monotonic()

    def __enter__(self):
        self.rich.__enter__()
        return self

    def __exit__(self, *exc):
        self.rich.__exit__(*exc)
        if not self.quiet and not self.tty and self.counts:
            self._plain_line()

    def __call__(self, stage: str, n: int, total: int | None = None) -> None:
        now = time.monotonic()
        done = self.counts.setdefault(stage, [0, None, now])
        done[0] += n
        if total is not None:
            done[1] = total
        rate = done[0] / max(now - done[2], 1e-6)
        if stage not in self.tasks:
            self.tasks[stage] = self.rich.add_task(stage, total=done[1], rate="")
        self.rich.update(self.tasks[stage], advance=n, total=done[1], rate=f"{rate:,.0f}/s")
        if not self.quiet and not self.tty and now - self.last_line >= self.PLAIN_EVERY_S:
            self._plain_line()

    def _plain_line(self) -> None:
        self.last_line = time.monotonic()
        parts = []
        for stage, (done, total, started) in self.counts.items():
            rate = done / max(self.last_line - started, 1e-6)
            eta = f", eta {(total - done) / rate:.0f}s" if total and rate and done < total else ""
            parts.append(f"{stage} {done}{f'/{total}' if total else ''} ({rate:,.1f}/s{eta})")
        err.print("progress: " + "; ".join(parts), highlight=False)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Optional[list[Path]] = typer.Argument(
        None, help="Files and folders (.txt .md .html .pdf .docx .json, BEIR .jsonl[.gz])."),
    include: list[str] = typer.Option([], "--include", help="Only files matching this glob (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip files matching this glob (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (added/changed/deleted); write nothing."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Ingest again the inputs that failed before."),
    engine_name: str = typer.Option("local", "--engine", help="local | ray (chunk + embed as a Ray Data job)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster (default: start a local one)."),
    groups: str = typer.Option("", "--groups", help="Who may read these documents: comma-separated groups "
                                                    "(default: [[sources]] groups, else everyone)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Parse, chunk, embed and index documents; commit a new index version if anything changed."""
    if engine_name not in ("local", "ray"):
        raise InputError(f"--engine must be local or ray; got {engine_name!r}")
    engine = _engine(ctx)
    with _Progress(quiet=as_json) as observe:
        report = engine.ingest(paths or [], observe=observe, dry_run=dry_run, retry_failed=retry_failed,
                               include=tuple(include), exclude=tuple(exclude), engine=engine_name,
                               ray_address=ray_address, groups=_split(groups))
    if as_json:
        _print_json(report.to_dict())
    elif dry_run:
        _print_plan(report)
    else:
        _print_ingest(report)
    if dry_run:
        return
    if report.ingested == 0 and not retry_failed:
        raise EmptyCorpus(f"nothing could be ingested from {', '.join(map(str, paths))}"
                          + (f": {len(report.failures)} failed (see above)" if report.failures else
                             ": no supported files found"))
    if report.failures:
        raise typer.Exit(PARTIAL_EXIT)


def _print_plan(report) -> None:
    out.print(f"plan against {report.previous or '(empty index)'}: {report.added} added, {report.changed} changed, "
              f"{report.deleted} deleted, {report.unchanged} unchanged, {len(report.failures)} failed", highlight=False)
    for kind in ("added", "changed", "deleted"):
        for doc_id in report.plan[kind]:
            out.print(f"  {kind:<8} {doc_id}", highlight=False)
    for f in report.failures:
        out.print(f"  failed   {f.path}: {f.reason}", highlight=False)


def _print_ingest(report) -> None:
    table = Table(title="ingest", show_header=False)
    for key in ("added", "changed", "deleted", "unchanged", "chunks_written", "chunks_embedded", "documents",
                "chunks"):
        table.add_row(key.replace("_", " "), str(getattr(report, key)))
    table.add_row("failed", str(len(report.failures)))
    table.add_row("version", f"{report.version or '-'}" + (" (new, live)" if report.new_version else " (unchanged)"))
    if report.reindexed:
        table.add_row("full-text", "rebuilt for the new search.bm25_* settings")
    table.add_row("time", ", ".join(f"{k} {v:.1f}s" for k, v in report.timings_s.items()))
    out.print(table)
    for f in report.failures:
        err.print(f"[red]failed[/red] {f.path}: {f.reason}", highlight=False)


@app.command()
def search(
    ctx: typer.Context,
    query: str,
    mode: Optional[str] = typer.Option(None, "--mode", help="dense | bm25 | hybrid (default from settings)."),
    k: Optional[int] = typer.Option(None, "-k", help="Number of results."),
    filters: list[str] = typer.Option([], "--filter", help="FIELD=VALUE[,VALUE] on doc_id, source (a trailing * "
                                                           "matches a prefix) or a metadata key (repeatable)."),
    groups: Optional[str] = typer.Option(None, "--as-groups", help="Search as a reader in these groups."),
    mmr: Optional[float] = typer.Option(None, "--mmr", help="MMR diversity λ: 1 = off, lower = more diverse."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search the live index version."""
    result = _engine(ctx).search(query, mode, k, _filter(filters, groups), mmr)
    if as_json:
        return _print_json(result.to_dict())
    for h in result.hits:
        out.print(f"[bold]{h.rank}.[/bold] {h.title or h.doc_id}  [dim]{h.doc_id} · {h.chunk_id} · "
                  f"{h.score:.4f}[/dim]", highlight=False)
        out.print(f"   {_snippet(h.text)}", highlight=False)


@app.command()
def ask(
    ctx: typer.Context,
    question: str,
    as_json: bool = typer.Option(False, "--json"),
    stream: bool = typer.Option(False, "--stream", help="Print verified sentences as the LLM produces them."),
    filters: list[str] = typer.Option([], "--filter", help="FIELD=VALUE[,VALUE] (see `search --help`)."),
    groups: Optional[str] = typer.Option(None, "--as-groups", help="Answer as a reader in these groups."),
) -> None:
    """Answer a question with citations, or abstain and show the closest sources."""
    engine, flt = _engine(ctx), _filter(filters, groups)
    if stream:
        for event in engine.ask_stream(question, filter=flt):
            if event["type"] == "sentence" and not as_json:
                out.print(event["text"], highlight=False)
            elif event["type"] == "answer":
                result = event["answer"]
        if as_json:
            return _print_json(result)
        return _print_answer_footer(result, printed_text=True)
    answer = engine.ask(question, filter=flt)
    if as_json:
        return _print_json(answer.to_dict())
    _print_answer_footer(answer.to_dict(), printed_text=False)


def _print_answer_footer(answer: dict, printed_text: bool) -> None:
    if answer["fallback"]:
        out.print(f"[yellow]{answer['fallback']['from']} failed ({answer['fallback']['reason']}); "
                  "extractive answer:[/yellow]", highlight=False)
    if answer["abstained"]:
        reason = f": {answer['warning']}" if answer["warning"] else ""
        out.print(f"[yellow]Not found in the documents[/yellow] (confidence {answer['confidence']:.2f}{reason}). "
                  "Closest sources:", highlight=False)
    else:
        if not printed_text or answer["fallback"]:
            out.print(answer["answer"], highlight=False)
        if answer["warning"]:
            out.print(f"[yellow]warning: {answer['warning']}[/yellow]", highlight=False)
        out.print(f"[dim]confidence {answer['confidence']:.2f}[/dim]")
    for r in answer["removed"]:
        out.print(f"[dim]removed: {r['text'][:80]!r} ({r['reason']})[/dim]", highlight=False)
    for c in answer["citations"]:
        out.print(f"[{c['n']}] {c['title'] or c['doc_id']} [dim]({c['doc_id']}, chars {c['start']}-{c['end']})[/dim]",
                  highlight=False)


@app.command("eval")
def evaluate(
    ctx: typer.Context,
    dataset: Path = typer.Argument(..., help="BEIR folder: corpus.jsonl[.gz], queries.jsonl, qrels/SPLIT.tsv."),
    split: str = typer.Option("test", "--split"),
    mode: Optional[str] = typer.Option(None, "--mode"),
    k: Optional[int] = typer.Option(None, "-k", help="Chunks retrieved per query (default: enough for 100 docs)."),
    as_json: bool = typer.Option(False, "--json"),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a Markdown report here."),
) -> None:
    """Ingest a BEIR dataset's corpus if needed, run its queries, print retrieval quality and latency."""
    from ragship.evaluate.runner import evaluate as run_eval, markdown_report

    with _Progress(quiet=as_json) as observe:
        result = run_eval(_engine(ctx), dataset, split, mode, k, observe=observe)
    if report:
        report.write_text(markdown_report(result), encoding="utf-8")
    if as_json:
        return _print_json(result)
    table = Table(title=f"{result['dataset']} / {result['split']} / {result['mode']} ({result['queries']} queries)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result["metrics"].items():
        table.add_row(name, f"{value:.4f}")
    table.add_row("latency p50 ms", f"{result['latency_ms']['p50']:.1f}")
    table.add_row("latency p95 ms", f"{result['latency_ms']['p95']:.1f}")
    out.print(table)


@app.command()
def calibrate(
    ctx: typer.Context,
    dataset: Path = typer.Argument(..., help="BEIR folder with answers.jsonl and queries_unanswerable.jsonl."),
    split: str = typer.Option("test", "--split", help="qrels split naming the answerable questions."),
    target_precision: float = typer.Option(0.85, "--target-precision", min=0.5, max=1.0,
                                           help="Share of abstentions that must be truly unanswerable."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fit answer confidence on labeled answerable/unanswerable questions; store it with the index version."""
    from dataclasses import asdict

    from ragship.evaluate.runner import calibrate as run_calibrate

    engine = _engine(ctx)
    with _Progress(quiet=as_json) as observe:
        c = run_calibrate(engine, dataset, split, target_precision, observe=observe)
    if as_json:
        return _print_json(asdict(c))
    v = c.validation
    out.print(f"Calibrated on {c.fitted_on['answerable']} answerable and {c.fitted_on['unanswerable']} unanswerable "
              f"questions ({c.fitted_on['dataset']}), stored with index version {c.fitted_on['version']}.")
    out.print(f"Threshold {c.threshold:.3f} (abstentions >= {c.target_precision:.0%} truly unanswerable). "
              f"Out-of-fold ({v['folds']}-fold): answers {v['answer_rate']:.1%} of answerable questions, abstains on "
              f"{v['abstain_rate']:.1%} of unanswerable ones (precision {v['abstain_precision']:.1%}).",
              highlight=False)
    table = Table(title="Reliability (out-of-fold)")
    for col in ("confidence", "questions", "mean confidence", "answerable share"):
        table.add_column(col, justify="right")
    for row in v["reliability"]:
        table.add_row(row["bin"], str(row["questions"]), f"{row['mean_confidence']:.3f}", f"{row['answerable']:.3f}")
    out.print(table)


@app.command()
def adapt(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="BEIR folder with qrels (labeled), or any corpus (unsupervised)."),
    split: str = typer.Option("train", "--split", help="qrels split to train on (10% held out to validate)."),
    unsupervised: bool = typer.Option(False, "--unsupervised", help="Inverse-cloze pairs from the corpus only."),
    reranker: bool = typer.Option(False, "--reranker", help="Also train a cross-encoder reranker on the pairs."),
    epochs: int = typer.Option(3, "--epochs", min=1, max=20, help="SciFact: 1 epoch +0.005, 3 epochs +0.025 nDCG@10."),
    budget_min: float = typer.Option(15.0, "--budget-min", min=0.1, help="Stop training after this many minutes."),
    batch_size: int = typer.Option(32, "--batch-size", min=2, max=256),
    lr: float = typer.Option(2e-5, "--lr"),
    write: bool = typer.Option(True, "--write/--no-write", help="Point embed.model at the result in ragship.toml."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fine-tune the embedding model on your data; build a new index version with it."""
    import os
    from dataclasses import asdict

    from ragship.adapt.runner import adapt as run_adapt

    config = Path(os.environ.get("RAGSHIP_CONFIG", "ragship.toml"))
    with _Progress(quiet=as_json) as observe, _training_bar(as_json) as progress:
        report = run_adapt(_engine(ctx), data, split, unsupervised=unsupervised, reranker=reranker, epochs=epochs,
                           batch_size=batch_size, lr=lr, budget_s=budget_min * 60, config=config if write else None,
                           observe=observe, progress=progress)
    if as_json:
        return _print_json(asdict(report))
    v, t = report.validation, report.training
    out.print(f"Trained on {report.pairs} {report.mode} pairs: {t['steps']}/{t['planned_steps']} steps in "
              f"{t['seconds']} s (loss {t['first_loss']} -> {t['last_loss']})"
              + (" [yellow]stopped by the time budget[/yellow]" if t["stopped_by_budget"] else ""), highlight=False)
    out.print(f"Validation ({v['queries']} held-out queries, {v['metric']}): {v['base']:.4f} -> {v['adapted']:.4f}",
              highlight=False)
    out.print(f"Saved {report.model_path}; index version {report.version} uses it"
              + (f"; embed.model written to {report.written_to}" if report.written_to else ""), highlight=False)
    if "reranker" in report.extra:
        r = report.extra["reranker"]
        out.print(f"Reranker {r['model_path']}: {r['training']['steps']} steps in {r['training']['seconds']} s; "
                  f"held-out nDCG@10 hybrid {r['validation']['hybrid']:.4f} -> reranked "
                  f"{r['validation']['reranked']:.4f}", highlight=False)


@contextlib.contextmanager
def _training_bar(quiet: bool):
    """A Rich bar of training steps and loss on a terminal; a plain line every 10 steps otherwise."""
    if quiet:
        yield None
        return
    if not err.is_terminal:
        yield lambda step, total, loss: (step % 10 == 0 or step == total) and err.print(
            f"train: step {step}/{total}, loss {loss:.3f}", highlight=False)
        return
    with Progress(TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=err, transient=False) as bar:
        task = bar.add_task("train", total=None, loss=0.0)
        yield lambda step, total, loss: bar.update(task, completed=step, total=total, loss=loss)


@app.command()
def tune(
    ctx: typer.Context,
    dataset: Path = typer.Argument(..., help="BEIR folder with qrels for the split to tune on."),
    split: str = typer.Option("train", "--split"),
    write: bool = typer.Option(True, "--write/--no-write", help="Write the best settings to ragship.toml."),
    chunks: str = typer.Option("", "--chunks", help="Other chunkings to try, TOKENS/OVERLAP comma-separated "
                               "(e.g. 128/16,256/32): each is ingested into a scratch index (embedding its chunks)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search BM25 analysis (stemming, stop words) and fusion settings (mode, RRF k, weights, convex fusion) on a
    training split; keep the best (another BM25 analysis only when significantly better)."""
    import os
    from dataclasses import asdict

    from ragship.evaluate.tune import tune as run_tune, write_search_settings

    chunkings = _chunkings(chunks)
    with _Progress(quiet=as_json) as observe:
        tuned = run_tune(_engine(ctx), dataset, split, observe=observe, chunkings=chunkings)
    trials, chosen = tuned.trials, tuned.chosen
    config = Path(os.environ.get("RAGSHIP_CONFIG", "ragship.toml"))
    if write:
        write_search_settings(config, chosen.settings)
        if chosen.chunk:
            write_settings(config, "chunk", chosen.chunk)
    if as_json:
        return _print_json({"split": split, "best": asdict(trials[0]), "chosen": asdict(chosen), "why": tuned.why,
                            "written_to": str(config) if write else None, "trials": [asdict(t) for t in trials]})
    shown = [t for i, t in enumerate(trials) if i < TUNE_ROWS or t.pareto or t is chosen]
    table = Table(title=f"{dataset.name} / {split}: nDCG@10 vs p95 latency (* = Pareto front); "
                        f"the best {TUNE_ROWS} and the front of {len(trials)} settings (all with --json)")
    for col in ("setting", "nDCG@10", "R@100", "p95 ms", ""):
        table.add_column(col, justify="left" if col == "setting" else "right")
    for t in shown:
        table.add_row(escape(t.name), f"{t.ndcg:.4f}", f"{t.recall100:.4f}", f"{t.p95_ms:.1f}",
                      ("*" if t.pareto else "") + (" chosen" if t is chosen else ""))
    out.print(table)
    out.print(f"chosen: {chosen.name} (nDCG@10 {chosen.ndcg:.4f}): {tuned.why}"
              + (f"; written to {config} [search]{' and [chunk]' if chosen.chunk else ''} (the next ingest rebuilds "
                 "what changed)" if write else ""), markup=False, highlight=False)


def _chunkings(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        tokens, _, overlap = part.partition("/")
        if not (tokens.isdigit() and (overlap or "0").isdigit()) or int(tokens) < 16 or int(overlap or 0) >= int(tokens):
            raise typer.BadParameter(f"{part!r}: write TOKENS/OVERLAP, e.g. 128/16 (tokens >= 16, overlap < tokens)",
                                     param_hint="--chunks")
        out.append((int(tokens), int(overlap or 0)))
    return tuple(out)


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Live version, counts, models, settings and the last ingest's failures."""
    s = _engine(ctx).status()
    if as_json:
        return _print_json(s)
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


LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
    from ragship.server.auth import KeyStore

    engine = _base_engine(ctx)
    if host not in LOOPBACK and not KeyStore(engine.home / "keys.json").any_active():
        if not no_auth:
            raise InputError(f"refusing to serve on {host} without API keys: create one with `ragship keys create "
                             "--role admin`, serve on 127.0.0.1, or pass --no-auth to accept the risk")
        err.print(f"[bold red]WARNING: serving on {host} with NO AUTHENTICATION (--no-auth): anyone who can reach "
                  "this address can read, upload and delete every document.[/bold red]")
    err.print(f"ragship serving {engine.home} on http://{host}:{port}  (API docs: /docs)", highlight=False)
    uvicorn.run(create_app(engine), host=host, port=port, log_level="warning")


collections_app = typer.Typer(help="Named collections: each its own index, settings and versions.",
                              no_args_is_help=True)
app.add_typer(collections_app, name="collections")


def _collections(ctx: typer.Context):
    from ragship.collections import Collections

    return Collections(_base_engine(ctx))


@collections_app.command("list")
def collections_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    c = _collections(ctx)
    rows = [c.describe(name) for name in c.names()]
    if as_json:
        return _print_json(rows)
    for r in rows:
        out.print(f"{r['name']:<24} {r['live_version'] or '-':<6} {r['documents']} documents", highlight=False)


@collections_app.command("create")
def collections_create(
    ctx: typer.Context,
    name: str,
    settings: str = typer.Option("{}", "--settings", help='JSON of sections to override, e.g. \'{"search": {"top_k": 5}}\'.'),
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


keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _keys(ctx: typer.Context):
    from ragship.server.auth import KeyStore

    return KeyStore(_base_engine(ctx).home / "keys.json")


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    role: str = typer.Option(..., "--role", help="reader | editor | admin"),
    groups: str = typer.Option("", "--groups", help="Comma-separated groups whose documents the key may read."),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    secret, record = _keys(ctx).create(role, list(_split(groups)), name)
    if as_json:
        return _print_json({"key": secret, "id": record.id, "role": record.role, "groups": record.groups})
    out.print(secret, highlight=False)
    err.print(f"key {record.id}: role {record.role}, groups {', '.join(record.groups) or '(none: public only)'}. "
              "Store it now; it cannot be shown again.", highlight=False)


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List keys (ids, roles, groups; never the secrets)."""
    rows = [{"id": r.id, "role": r.role, "groups": r.groups, "name": r.name, "created_at": r.created_at,
             "revoked": r.revoked} for r in _keys(ctx).records().values()]
    if as_json:
        return _print_json(rows)
    for r in rows:
        out.print(f"{r['id']}  {r['role']:<7} {','.join(r['groups']) or '-':<20} {r['name'] or '-':<16} "
                  f"{r['created_at']}{'  REVOKED' if r['revoked'] else ''}", highlight=False)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str) -> None:
    """Revoke a key by id: its requests get 401 from the next request on."""
    record = _keys(ctx).revoke(key_id)
    err.print(f"key {record.id} revoked", highlight=False)


def _split(csv: str | None) -> tuple[str, ...]:
    return tuple(sorted({g.strip() for g in (csv or "").split(",") if g.strip()}))


def _filter(specs: list[str], groups: str | None) -> Filter:
    return Filter(None if groups is None else frozenset(_split(groups)), parse_filters(specs))


def _snippet(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> None:
    try:
        code = app(standalone_mode=False)  # click returns the code of a typer.Exit here
        sys.exit(code if isinstance(code, int) else 0)
    except RagshipError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
