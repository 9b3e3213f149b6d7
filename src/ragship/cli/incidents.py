"""`ragship incident (list | show | open | ack | resolve | postmortem)`: what the on-call person works through.
Alerts open incidents on their own (monitor/incidents.py); these commands read them, take them, close them and
draft their postmortem."""

from __future__ import annotations

import time
from enum import Enum
from typing import Optional

import typer
from rich.markup import escape

from ragship.cli.app import app, base_engine, print_json
from ragship.cli.render import out
from ragship.collections import Collections, named
from ragship.oversight import Oversight
from ragship.util import actor

incident_app = typer.Typer(help="Incidents: opened by alerts or by hand, with a timeline and a postmortem draft.",
                           no_args_is_help=True)
app.add_typer(incident_app, name="incident")


class Status(str, Enum):
    """`--status`, a choice of monitor.incidents.STATUSES: `--status bogus` errors naming the option."""

    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


BY = typer.Option(None, "--by", help="Who (default: `cli (LOGIN)`, this user's login name).")


def _oversight(ctx: typer.Context) -> Oversight:
    return Oversight(Collections(base_engine(ctx)))


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) if at else "—"


@incident_app.command("list")
def list_(ctx: typer.Context, status: Optional[Status] = typer.Option(None, "--status",
                                                                       help="Only the incidents in this status."),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """The newest incidents first."""
    found = _oversight(ctx).incidents.list(status=status and status.value)
    if as_json:
        return print_json([i.to_dict() for i in found])
    for i in found:
        out.print(f"{i.id}  {i.status:12} {i.collection:10} opened {_when(i.opened)}  {escape(i.title)}  "
                  f"alerts: {', '.join(i.alerts) or '—'}", highlight=False)
    if not found:
        out.print("no incidents", highlight=False)


@incident_app.command("show")
def show(ctx: typer.Context, incident_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """An incident and its timeline: alerts, releases, ingests, syncs, improvement runs, acks."""
    i = _oversight(ctx).incident(incident_id)
    if as_json:
        return print_json(i)
    out.print(f"{i['id']} {i['status']}: {escape(i['title'])} (collection {i['collection']})", highlight=False)
    for e in i["timeline"]:
        who = f" [{e['by']}]" if e.get("by") else ""
        out.print(f"{_when(e['at'])}  {e['kind']:20} {escape(e['text'])}{escape(who)}", highlight=False)


@incident_app.command("open")
def open_(ctx: typer.Context, title: str, by: Optional[str] = BY,
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Open an incident by hand (what users report that no alert caught)."""
    incident = _oversight(ctx).incidents.open(named(ctx.obj.get("collection")), title, by or actor.cli())
    if as_json:
        return print_json(incident.to_dict())
    out.print(f"opened incident {incident.id}", highlight=False)


@incident_app.command("ack")
def ack(ctx: typer.Context, incident_id: str, by: Optional[str] = BY,
        as_json: bool = typer.Option(False, "--json")) -> None:
    """Acknowledge: you are on it (the time to acknowledge is measured to here)."""
    incident = _oversight(ctx).incidents.acknowledge(incident_id, by or actor.cli())
    if as_json:
        return print_json(incident.to_dict())
    out.print(f"incident {incident.id} acknowledged by {incident.entries[-1]['by']}", highlight=False)


@incident_app.command("resolve")
def resolve(ctx: typer.Context, incident_id: str, note: str = typer.Option("", "--note", help="What fixed it."),
            by: Optional[str] = BY, as_json: bool = typer.Option(False, "--json")) -> None:
    """Resolve by hand (an alert-opened incident also resolves itself when its alerts have)."""
    incident = _oversight(ctx).incidents.resolve(incident_id, by or actor.cli(), note)
    if as_json:
        return print_json(incident.to_dict())
    out.print(f"incident {incident.id} resolved", highlight=False)


@incident_app.command("postmortem")
def postmortem(ctx: typer.Context, incident_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """The postmortem draft in Markdown (--json: the same as data): impact, detection, response and recovery
    times, the trigger candidates, the timeline, and prompts for what only people can write."""
    from ragship.monitor.postmortem import markdown

    d = _oversight(ctx).postmortem(incident_id)
    if as_json:
        return print_json(d)
    print(markdown(d))
