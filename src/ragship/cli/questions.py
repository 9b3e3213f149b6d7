"""`ragship history` (the questions a key asked, with their outcome) and `ragship gaps` (the questions the documents
fail to answer, by topic). The CLI acts as the home's owner: it sees every key's questions."""

from __future__ import annotations

import time
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ragship.access import KeyStore
from ragship.cli.app import app, base_engine, print_json
from ragship.cli.render import out, snippet
from ragship.collections import Collections, named
from ragship.errors import InputError
from ragship.retrieve.filters import Filter
from ragship.learn.gaps import DAYS, gaps
from ragship.learn.history import history
from ragship.oversight import Oversight
from ragship.util import actor


def _utc(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at)) if at else "—"


@app.command("history")
def question_history(
    ctx: typer.Context,
    key: Optional[str] = typer.Option(None, "--key", help="Only this key's questions (its id: `ragship keys "
                                                          "list`); default: every key's."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The questions asked through the API, newest first: when (UTC), by whom, the outcome, and the asker's own
    rating and comment of the answer."""
    engine = base_engine(ctx)
    collection = ctx.obj.get("collection")
    names = {key_id: r.name for key_id, r in KeyStore(engine.state).records().items()}
    if key is not None and key not in names:
        by_name = [key_id for key_id, name in names.items() if name == key]
        if len(by_name) != 1:
            raise InputError(f"--key {key!r} is no key's id{' (several keys have that name)' if by_name else ''}: "
                             "`ragship keys list` shows each key's id")
        key = by_name[0]
    rows = history(Oversight(Collections(engine)).query_log, key, collection and named(collection), limit)
    for r in rows:
        r["asked_by_name"] = actor.recorded(r["asked_by"], names)
    if as_json:
        return print_json(rows)
    table = Table(title=f"questions asked ({len(rows)}, newest first; times in UTC)")
    for column in ("asked", "by", "outcome", "question", "rating", "comment"):
        table.add_column(column)
    for r in rows:
        table.add_row(_utc(r["ts"]), escape(r["asked_by_name"]), r["outcome"] or "", escape(snippet(
            r["question"] or "", 80)), r["rating"] or "", escape(snippet(r["comment"], 60)))
    out.print(table)


@app.command("gaps")
def unanswered(
    ctx: typer.Context,
    days: float = typer.Option(DAYS, "--days", min=0.001, help="The window: questions asked in the last days."),
    reask: bool = typer.Option(False, "--reask", help="Ask the newest open questions again (after adding "
                                                      "documents) and close those the documents now answer."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The questions the documents fail to answer: abstentions, empty results and down-voted answers, one entry
    per question, grouped by topic, with how often each failed; a question later answered without a down-vote is
    closed. Write or find documents for the open ones."""
    engine = base_engine(ctx)
    collections, collection = Collections(engine), named(ctx.obj.get("collection"))
    groups = {key_id: r.principal().groups for key_id, r in KeyStore(engine.state).records().items()}

    def ask(question: str, asker: str) -> dict:  # as its asker reads: would they be answered now?
        return collections.get(collection).ask(question, None, Filter(groups.get(asker))).to_dict()

    report = gaps(Oversight(collections).query_log, collection, lambda key: True, days, None, ask if reask else None)
    if as_json:
        return print_json(report)
    out.print(f"{report['open']} open and {report['closed']} closed questions the documents failed in the last "
              f"{days:g} days, in {len(report['topics'])} topics", highlight=False)
    if report["reasked"]:
        r = report["reasked"]
        out.print(f"asked again as their askers read: {r['asked']}; the documents now answer {r['answered']} (open "
                  "until someone asks: marked 'answered now')" + (f"; {r['left']} older open ones not asked"
                                                                  if r["left"] else ""), highlight=False)
    if not report["kept_text"]:
        out.print('monitor.query_text = "hash" keeps no question text: nothing to list', highlight=False)
    for t in report["topics"]:
        out.print(f"\n[bold]{escape(t['name'])}[/bold]: {t['open']} open, {t['closed']} closed, failed "
                  f"{t['failed']} times, last {_utc(t['last_failed'])} UTC", highlight=False)
        for q in t["questions"][:5]:
            why = ", ".join(f"{n} × {reason}" for reason, n in q["reasons"].items())
            now_ = (f" [green]answered now[/green] from {escape(', '.join(q['answered_now']['documents']))}"
                    if q["answered_now"] else "")
            out.print(f"  - {escape(snippet(q['question'], 100))} [dim]({why})[/dim]{now_}", highlight=False)
        if len(t["questions"]) > 5:
            out.print(f"  … and {len(t['questions']) - 5} more (--json lists them)", highlight=False)
        for q in t["closed_questions"][:2]:
            out.print(f"  [green]closed[/green] {escape(snippet(q['question'], 90))} [dim](answered "
                      f"{_utc(q['closed_at'])} by {escape(q['closed_by_version'] or '?')})[/dim]", highlight=False)
