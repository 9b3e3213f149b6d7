"""`ragship chat`: questions asked one after another in the terminal, each answered in the conversation so far."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from ragship.cli.app import app, caller_filter, engine
from ragship.cli.files import writable, write_file
from ragship.cli.render import err, out, print_answer, print_turns
from ragship.errors import InputError
from ragship.retrieve.conversation import load_messages

COMMANDS = "/new starts a new conversation, /history shows it, /quit (or Ctrl-D) ends"


@app.command()
def chat(
    ctx: typer.Context,
    conversation: Optional[Path] = typer.Option(None, "--conversation", help="A JSON file of OpenAI-style "
                                                "messages to continue (as `ask --conversation` reads)."),
    save: Optional[Path] = typer.Option(None, "--save", callback=writable, help="Write the conversation's messages "
                                        "(a JSON list) here when the session ends."),
    filters: list[str] = typer.Option([], "--filter", help="FIELD=VALUE[,VALUE] (see `search --help`)."),
    groups: Optional[str] = typer.Option(None, "--as-groups", help="Answer as a caller in these groups."),
) -> None:
    """Ask questions one after another: each is answered in the context of the earlier ones."""
    collection, flt = engine(ctx), caller_filter(filters, groups)
    messages = load_messages(conversation) if conversation is not None else []
    if conversation is not None:
        _check(messages, conversation)
    collection.served()  # no index: say so before the first prompt, not after the first question
    out.print(f"[dim]{COMMANDS}[/dim]" + (f"[dim]; {_user_turns(messages)} earlier question(s) loaded[/dim]"
                                          if messages else ""), highlight=False)
    try:
        while (line := _read()) is not None:
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line == "/new":
                messages = []
                out.print("[dim]new conversation[/dim]")
            elif line == "/history":
                print_turns(messages)
            elif line.startswith("/"):
                err.print(f"[yellow]unknown command {escape(line.split()[0])}[/yellow]: {COMMANDS}", highlight=False)
            else:
                messages = _ask(collection, flt, messages, line)
    finally:
        if save:
            write_file(save, json.dumps(messages, indent=1, ensure_ascii=False) + "\n")
            err.print(f"[dim]saved {len(messages)} messages to {escape(str(save))}[/dim]", highlight=False)


def _read() -> str | None:
    """The next line typed, stripped; None at the end of input (Ctrl-D) or on Ctrl-C."""
    try:
        return out.input("[bold cyan]?[/bold cyan] ").strip()
    except (EOFError, KeyboardInterrupt):
        out.print()
        return None


def _ask(collection, flt, messages: list[dict[str, Any]], question: str) -> list[dict[str, Any]]:
    """The conversation after `question` is answered; unchanged when the engine refuses it (the session goes on)."""
    asked = [*messages, {"role": "user", "content": question}]
    try:
        answer = collection.ask(asked, filter=flt).to_dict()
    except InputError as e:  # a question too long, a conversation too long: say so and keep the session
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return messages
    print_answer(answer, printed_text=False)
    return [*asked, {"role": "assistant", "content": answer["answer"]}]


def _check(messages: list, path: Path) -> None:
    """A saved conversation must be a list of {"role", "content"} messages, whatever its last message is."""
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InputError(f"{path}: message {i + 1} is not {{\"role\": ..., \"content\": ...}}")


def _user_turns(messages: list[dict[str, Any]]) -> int:
    return sum(1 for m in messages if m.get("role") == "user")
