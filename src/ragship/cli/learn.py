"""Learning from production: `ragship feedback list|add|export|purge`, `ragship dataset build|show|export`,
`ragship improve`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ragship.access import KeyStore
from ragship.cli.app import app, base_engine, print_json
from ragship.cli.files import A_FOLDER, writable, writable_folder, write_file, writing
from ragship.cli.render import err, out, snippet
from ragship.collections import Collections, named
from ragship.learn.labels import check_feedback
from ragship.learn.review import queue
from ragship.oversight import Oversight
from ragship.util import actor

feedback_app = typer.Typer(help="Ratings and reviews of answers: the labels `ragship improve` learns from.",
                           no_args_is_help=True)
dataset_app = typer.Typer(help="The labeled set built from rated and reviewed answers.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")
app.add_typer(dataset_app, name="dataset")


def _loop(ctx: typer.Context):
    oversight = Oversight(Collections(base_engine(ctx)))
    return oversight, oversight.learning(ctx.obj.get("collection"))


@feedback_app.command("list")
def feedback_list(
    ctx: typer.Context,
    rating: Optional[str] = typer.Option(None, "--rating", help="up or down: only answers rated so."),
    kind: str = typer.Option("all", "--queue", help="all (rated down or up, abstained, a sample of the "
                             "unrated), down, up, abstained or sample."),
    status: str = typer.Option("to_review", "--status", help="to_review (not reviewed yet), reviewed (with the "
                               "latest review) or all."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The review queue: rated answers (down or up), abstentions, and a sample of unrated traffic, newest first;
    each with who asked and the chunk ids it cited first, then those it showed (what `feedback add
    --helpful/--wrong` takes)."""
    from ragship.errors import InputError

    if rating is not None and kind not in ("all", rating):
        raise InputError(f"--rating {rating} and --queue {kind} contradict each other (--rating {rating} is the "
                         f"queue {rating}); give one of them")
    oversight, _ = _loop(ctx)
    rows = queue(oversight.query_log, named(ctx.obj.get("collection")), rating or kind, limit, status)
    names = _names(oversight.collections)
    for r in rows:
        r["asked_by_name"] = actor.recorded(r["asked_by"], names)
    if as_json:
        return print_json(rows)
    table = Table(title=f"review queue, {status.replace('_', ' ')} ({len(rows)})")
    for column in ("answer id", "asked by", "outcome", "rating", "question", "answer", "sources (* cited)"):
        table.add_column(column)
    for r in rows:
        sources = sorted(r["sources"], key=lambda s: not s.get("cited"))  # stable: the order shown, cited first
        ids = [s["chunk_id"] + (" *" if s.get("cited") else "") for s in sources[:4]]
        more = [f"+{len(sources) - 4} more (--json)"] if len(sources) > 4 else []
        table.add_row(r["id"], escape(r["asked_by_name"]), r["outcome"] + (" (reviewed)" if r["review"] else ""),
                      str(r["rating"] if r["rating"] is not None else ""),
                      escape(snippet(r["question"] or "", 80)), escape(snippet(r["answer"] or "", 80)),
                      escape("\n".join(ids + more)))
    out.print(table)


@feedback_app.command("add")
def feedback_add(
    ctx: typer.Context,
    answer_id: str = typer.Argument(..., help="The answer's id (from `feedback list` or an answer's JSON)."),
    rating: Optional[str] = typer.Option(None, "--rating", help="up or down."),
    helpful: list[str] = typer.Option([], "--helpful", help="A chunk id that answered it (repeatable)."),
    wrong: list[str] = typer.Option([], "--wrong", help="A chunk id that did not (repeatable)."),
    expected: Optional[str] = typer.Option(None, "--expected", help="answer or abstain: what it should have done."),
    correction: str = typer.Option("", "--correction", help="The answer it should have given."),
) -> None:
    """Review an answer as the home's admin: rate it, mark its sources, say what it should have done."""
    from ragship.errors import AnswerNotFound, InputError

    oversight, _ = _loop(ctx)
    if rating not in (None, "up", "down") or expected not in (None, "answer", "abstain"):
        raise InputError("--rating takes up or down; --expected takes answer or abstain")
    marks = {**{c: "helpful" for c in helpful}, **{c: "wrong" for c in wrong}}
    if rating is None and not (marks or expected or correction):
        raise InputError("say something: --rating, --helpful/--wrong, --expected or --correction")
    log = oversight.query_log
    shown = log.answer_shown(answer_id)
    if shown is None:
        raise AnswerNotFound(f"no answer {answer_id!r} in the query log; `ragship feedback list` shows their ids")
    beyond = [c for c in marks if c not in {s["chunk_id"] for s in shown[2]}]
    # the home's admin may mark any chunk: the document the answer missed
    found = {c["chunk_id"]: c["doc_id"] for c in oversight.collections.get(shown[1]).view().chunks(
        beyond, ["chunk_id", "doc_id"])} if beyond else {}
    marks = check_feedback("admin", shown[2], marks, expected, correction, found)
    log.feedback(answer_id, "cli", {"up": 1, "down": -1, None: 0}[rating], "", marks, expected, correction)
    out.print(f"recorded a review of {answer_id}", highlight=False)


@feedback_app.command("export")
def feedback_export(
    ctx: typer.Context,
    days: Optional[float] = typer.Option(None, "--days", min=0.001,
                                         help="Only the last days' feedback (default: all the log keeps)."),
    dest: Optional[Path] = typer.Option(None, "--out", callback=writable,
                                        help="Write to this file (default: standard output)."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of CSV."),
) -> None:
    """Every rating, comment and review with who asked (by key name), the question, the outcome and the answer,
    oldest first: CSV with a header row (times in UTC), or JSON."""
    import time

    from ragship.learn.feedback_export import as_csv, feedback_rows

    oversight, _ = _loop(ctx)
    rows = feedback_rows(oversight.query_log, named(ctx.obj.get("collection")), _names(oversight.collections),
                         time.time() - days * 86400 if days is not None else 0.0)
    rows = [{k: v for k, v in r.items() if k != "sources"} for r in rows]
    text = json.dumps(rows, ensure_ascii=False, default=str) + "\n" if as_json else as_csv(rows)
    if dest is None:
        sys.stdout.write(text)
        return
    write_file(dest, text)
    err.print(f"wrote {len(rows)} feedback rows to {escape(str(dest))}", highlight=False)


def _names(collections: Collections) -> dict[str, str]:
    """Every key's name by id, to say who asked and who rated."""
    return {key_id: r.name for key_id, r in KeyStore(collections.default.state).records().items()}


@feedback_app.command("purge")
def feedback_purge(
    ctx: typer.Context,
    key_id: str = typer.Option(..., "--key", help="The key's id (`ragship keys list`; a LabelFlood alert names it)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete every rating and review a key gave, in every collection: no labeled set built from now on holds
    them (revoke the key too: `ragship keys revoke`)."""
    purged = Oversight(Collections(base_engine(ctx))).query_log.purge_feedback(key_id)
    if as_json:
        return print_json({"key_id": key_id, "purged": purged})
    out.print(f"removed {purged} feedback rows of key {escape(key_id)}", highlight=False)


@dataset_app.command("build")
def dataset_build(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Build the labeled set from the log now (a new version only when the labels changed)."""
    _, loop = _loop(ctx)
    labeled, new = loop.build()
    if as_json:
        return print_json({"new": new, **labeled.manifest, "path": str(labeled.root)})
    _print_set(labeled.manifest, labeled.root, "built" if new else "unchanged, still")


@dataset_app.command("show")
def dataset_show(ctx: typer.Context, version: Optional[int] = typer.Argument(None, help="Default: the newest."),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """A labeled set's figures and where it lies."""
    _, loop = _loop(ctx)
    labeled = loop.datasets.get(version)
    if as_json:
        return print_json({**labeled.manifest, "path": str(labeled.root)})
    _print_set(labeled.manifest, labeled.root, "")


@dataset_app.command("export")
def dataset_export(ctx: typer.Context,
                   dest: Path = typer.Argument(..., callback=writable_folder, help="A new folder."),
                   version: Optional[int] = typer.Option(None, "--version", help="Default: the newest."),
                   split: str = typer.Option("train", "--split", help="train or heldout.")) -> None:
    """Write a labeled set as a BEIR folder with the collection's documents as corpus.jsonl, for `ragship eval`,
    `calibrate`, `adapt` or another tool."""
    from ragship.learn.datasets import export

    oversight, loop = _loop(ctx)
    with writing(dest, A_FOLDER):
        dataset = loop.datasets.get(version)
        written = export(dataset, split, oversight.collections.get(ctx.obj.get("collection")).view(), dest)
    out.print(f"wrote {written['documents']} documents and {written['queries']} questions to {escape(str(dest))}",
              highlight=False)


@app.command()
def improve(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Build the labeled set and say what a run would do."),
    trigger: str = typer.Option("by hand", "--trigger", help="Why the run starts (the scheduler names it)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", hidden=True, help="The run the scheduler recorded."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Learn from production now: re-adapt the embedding model and re-fit the calibration on the labeled set,
    gate the result on held-out questions and golden sets, promote it if it passes. Waits for the result."""
    _, loop = _loop(ctx)
    report = loop.improve(trigger, dry_run, bounded=trigger != "by hand", run_id=run_id)
    if as_json:
        return print_json(report)
    if dry_run:
        from ragship.cli.render import print_improve_plan

        dataset = report["dataset"]
        _print_set(dataset, None, "dry run, nothing written: " + ("would build" if dataset["new"] else "unchanged,"))
        return print_improve_plan(report)
    out.print(f"{report['status']}: {escape(report['reason'])}", highlight=False)
    if report.get("candidate"):
        out.print(f"candidate {report['candidate']}; live {report['live_before']} → {report['live_after']}",
                  highlight=False)


def _print_set(manifest: dict, root: Path | None, verb: str) -> None:
    splits = manifest["splits"]
    where = f" in {escape(str(root))}" if root else ""
    out.print(f"{verb} labeled set {manifest['number']} ({manifest['items']} questions, {manifest['labels']} labels)"
              f"{where}".strip(), highlight=False)
    for side, figures in splits.items():
        out.print(f"  {side}: " + ", ".join(f"{v} {k}" for k, v in figures.items()), highlight=False)
    _print_sources(manifest.get("sources") or {})


def _print_sources(sources: dict) -> None:
    """Who the labels came from (a key's role, its questions, labels and reviews, what its share cap left out),
    and what was not counted and why."""
    if not sources:
        return
    table = Table(title=f"labels by key (no key's ratings over {sources['max_key_share']:.0%} of the questions, "
                        f"nor its reviews over {sources.get('max_review_share', 1.0):.0%})")
    for column in ("key", "role", "questions", "labels", "reviews", "left out (share)"):
        table.add_column(column)
    for key, s in sources["keys"].items():
        table.add_row(key, s["role"], str(s["questions"]), str(s["labels"]), str(s["reviews"]),
                      str(s.get("capped", "")))
    out.print(table)
    for reason, n in sources["dropped"].items():
        out.print(f"  not counted: {n} × {escape(reason)}", highlight=False)
