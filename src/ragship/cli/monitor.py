"""`ragship drift`, `ragship monitor (signals | alerts | tick | export)` and `ragship watch`: the monitoring of
a home from the command line (the server runs the same loop on its own)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ragship.cli.app import app, base_engine, print_json
from ragship.cli.files import write_files, writable_folder
from ragship.cli.render import err, out
from ragship.collections import Collections, named
from ragship.monitor.alerts import delivery_text
from ragship.oversight import Oversight
from ragship.util import actor

monitor_app = typer.Typer(help="Monitoring: signals, alerts, one evaluation round, Prometheus/Grafana export.",
                          no_args_is_help=True)
app.add_typer(monitor_app, name="monitor")


def _monitor(ctx: typer.Context):
    oversight = Oversight(Collections(base_engine(ctx)))
    return oversight, oversight.monitor()


def _name(ctx: typer.Context) -> str:
    return named(ctx.obj.get("collection"))


@app.command()
def drift(ctx: typer.Context, reset: bool = typer.Option(False, "--reset", help="Start a new reference window."),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Query drift (MMD, permutation p), score drift (KS), the topics users struggle with, and the business
    metrics that moved with them."""
    oversight, monitor = _monitor(ctx)
    collection = oversight.collections.get(ctx.obj.get("collection"))
    tracker = monitor.drift(_name(ctx), collection)
    if reset:
        live = collection.registry.live()
        ref = tracker.reset("reset by hand", live.id if live else None, by=actor.cli())
        return print_json(ref) if as_json else out.print("the next queries form the new reference window")
    report = tracker.report()
    if as_json:
        return print_json(report)
    _print_drift(report)


def _print_drift(r: dict) -> None:
    out.print(f"drift of {r['collection']}: {r['status']} (reference: {r['reference']['reason']}, "
              f"{r['reference']['queries']} queries)", highlight=False)
    if r["status"] != "measured":
        return
    out.print(f"query drift   MMD² {r['query']['mmd2']:.5f}, p {r['query']['p_value']:.4g}", highlight=False)
    for name in ("scores", "margin"):
        s = r[name]
        if s.get("p_value") is not None:
            out.print(f"{name:13} mean {s['reference_mean']:.3f} → {s['recent_mean']:.3f}, KS p {s['p_value']:.4g}",
                      highlight=False)
    table = Table(title="business metrics, reference → recent")
    for col in ("metric", "reference", "recent", ""):
        table.add_column(col)
    for metric, before in r["business"]["reference"].items():
        table.add_row(metric, str(before), str(r["business"]["recent"][metric]),
                      "moved" if metric in r["moved"] else "")
    out.print(table)
    for t in r["topics"]:
        out.print(f"topic ({t['size']} struggling queries): " + " | ".join(t["examples"]), highlight=False)


@monitor_app.command("signals")
def signals(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """The alert rules' signals now."""
    oversight, monitor = _monitor(ctx)
    values, context = monitor.signals(_name(ctx), oversight.collections.get(ctx.obj.get("collection")))
    if as_json:
        return print_json({"signals": values, "window": context["window"], "sources": context["sources"]})
    for name, value in values.items():
        out.print(f"{name:24} {'—' if value is None else round(value, 4)}", highlight=False)
    w = context["window"]
    out.print(f"{'window':24} {w.get('requests', 0)} requests, {w.get('feedback', 0)} votes", highlight=False)


@monitor_app.command("alerts")
def alerts(ctx: typer.Context, limit: int = typer.Option(20, "--limit", min=1, max=1000),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Each rule's state and the newest events with their webhook delivery (pending, delivered, dead)."""
    _, monitor = _monitor(ctx)
    found = {"states": monitor.alert_states(), "events": monitor.alerts.events(limit)}
    if as_json:
        return print_json(found)
    for s in found["states"]:
        out.print(f"{s['name']:18} {s['collection']:10} {s['state']:9} {s['condition']:30} value {s['value']}",
                  highlight=False)
    for e in found["events"]:
        out.print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(e['at']))} {e['event']:8} {e['alert']} "
                  f"({e['severity']}) {escape(delivery_text(e))}; runbook "
                  f"{e['runbook']}", highlight=False)


@monitor_app.command("tick")
def tick(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Evaluate the alert rules once now and deliver what is due (what the server does every
    monitor.evaluate_every_s)."""
    _, monitor = _monitor(ctx)
    done = monitor.tick()
    if done is None:
        err.print("another process is evaluating the rules right now; try again", highlight=False)
        raise typer.Exit(1)
    if as_json:
        return print_json(done)
    for e in done["events"]:
        out.print(f"{e['event']}: {e['alert']} ({e['collection']}) value {e['value']}; runbook {e['runbook']}",
                  highlight=False)
    out.print(f"{len(done['events'])} event(s); delivery {done['delivery'] or 'no webhook'}", highlight=False)


@monitor_app.command("export")
def export(ctx: typer.Context,
           folder: Path = typer.Argument(..., callback=writable_folder, help="Where to write them (made if needed)."),
           runbook_base: str = typer.Option("", "--runbook-base", help="Where runbook links point, e.g. "
                                            "https://rag.example.com/runbooks (default: monitor.runbook_base_url).")
           ) -> None:
    """Write ragship-rules.yml (Prometheus `rule_files`) and grafana-dashboard.json from the alert rules."""
    from ragship.monitor import export as exporting
    from ragship.monitor.rules import rules

    settings = base_engine(ctx).settings
    if runbook_base:
        settings = settings.model_copy(update={"monitor": settings.monitor.model_copy(
            update={"runbook_base_url": runbook_base})})
    for path in write_files(folder, exporting.files(rules(settings))):
        out.print(f"wrote {escape(str(path))}", highlight=False)


@app.command()
def watch(ctx: typer.Context,
          every: Optional[float] = typer.Option(None, "--every", min=1, help="Seconds between rounds.")) -> None:
    """Run the monitor without a server: alert rounds, each source's re-sync on its freshness objective, and the
    improvement loop's triggers where improve.schedule is on."""
    oversight, monitor = _monitor(ctx)
    scheduler = monitor.schedule(every, tasks=oversight.improvement_tasks())
    err.print(f"watching ({len(scheduler.get_jobs())} jobs); Ctrl-C stops", highlight=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        scheduler.shutdown(wait=False)
