"""`ragship search` and `ragship ask`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ragship.cli.app import app, engine, print_json, caller_filter
from ragship.cli.render import out, print_answer, snippet
from ragship.retrieve.conversation import load_messages
from ragship.types import SEARCH_MODES

MODES = " | ".join(SEARCH_MODES)


@app.command()
def search(
    ctx: typer.Context,
    query: str,
    mode: Optional[str] = typer.Option(None, "--mode", help=f"{MODES} (default from settings)."),
    k: Optional[int] = typer.Option(None, "-k", min=1, max=1000, help="Number of results."),
    filters: list[str] = typer.Option([], "--filter", help="FIELD=VALUE[,VALUE] on doc_id, source (a trailing * "
                                                           "matches a prefix) or a metadata key (repeatable)."),
    groups: Optional[str] = typer.Option(None, "--as-groups", help="Search as a caller in these groups."),
    mmr: Optional[float] = typer.Option(None, "--mmr", min=0, max=1,
                                       help="MMR diversity λ: 1 = off, lower = more diverse."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search the live index version."""
    result = engine(ctx).search(query, mode, k, caller_filter(filters, groups), mmr)
    if as_json:
        return print_json(result.to_dict())
    for h in result.hits:
        out.print(f"[bold]{h.rank}.[/bold] {h.title or h.doc_id}  [dim]{h.doc_id} · {h.chunk_id} · "
                  f"{h.score:.4f}[/dim]", highlight=False)
        out.print(f"   {snippet(h.text)}", highlight=False)


@app.command()
def ask(
    ctx: typer.Context,
    question: Optional[str] = typer.Argument(None, help="The question (with --conversation: asked after it)."),
    conversation: Optional[Path] = typer.Option(None, "--conversation", help="A JSON file of OpenAI-style "
                                                "messages: the question is answered in their context."),
    as_json: bool = typer.Option(False, "--json"),
    stream: bool = typer.Option(False, "--stream", help="Print verified sentences as the LLM produces them."),
    filters: list[str] = typer.Option([], "--filter", help="FIELD=VALUE[,VALUE] (see `search --help`)."),
    groups: Optional[str] = typer.Option(None, "--as-groups", help="Answer as a caller in these groups."),
) -> None:
    """Answer a question with citations, or abstain and show the closest sources."""
    if conversation is not None:
        asked: str | list[dict[str, Any]] = load_messages(conversation, question)
    elif question is not None:
        asked = question
    else:
        raise typer.BadParameter("give a QUESTION, or --conversation FILE (its last user message is the question)")
    collection, flt = engine(ctx), caller_filter(filters, groups)
    if stream:
        for event in collection.ask_stream(asked, filter=flt):
            if event["type"] == "sentence" and not as_json:
                out.print(event["text"], highlight=False)
            elif event["type"] == "answer":
                result = event["answer"]
        if as_json:
            return print_json(result)
        return print_answer(result, printed_text=True)
    answer = collection.ask(asked, filter=flt)
    if as_json:
        return print_json(answer.to_dict())
    print_answer(answer.to_dict(), printed_text=False)
