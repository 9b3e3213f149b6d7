"""`ragship versions`, `gate`, `promote` and `rollback`: index versions as releases."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ragship.cli.app import app, engine, print_json
from ragship.cli.render import err, out
from ragship.errors import GateRefused, HomeFileDamaged
from ragship.util import actor


versions_app = typer.Typer(help="Index versions: list (the default), pin, unpin, cleanup.",
                           invoke_without_command=True)
app.add_typer(versions_app, name="versions")


@versions_app.callback()
def versions(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every index version (live, candidate, retired, refused, deleted) with its last gate's figures."""
    if ctx.invoked_subcommand:
        return
    rows = engine(ctx).releases().versions()
    if as_json:
        return print_json(rows)
    metrics = sorted({m for r in rows for m in ((r["gate"] or {}).get("metrics") or {})})
    table = Table(title="index versions (newest first)")
    for col in ("version", "status", "created", "documents", "chunks", "MB (own)", "model", *metrics):
        table.add_column(col, justify="left" if col in ("version", "status", "created", "model") else "right")
    for r in rows:
        gate = (r["gate"] or {}).get("metrics") or {}
        status = r["status"] + (" (pinned)" if r["pinned"] else "")
        table.add_row(r["id"], status, r["created_at"][:16].replace("T", " "), str(r["counts"]["documents"]),
                      str(r["counts"]["chunks"]), _megabytes(r["disk"]), r["model"].split("@")[0][-24:],
                      *(_figure(gate.get(m)) for m in metrics))
    out.print(table)
    out.print(f"index on disk: {engine(ctx).store().disk_bytes() / 1e6:.1f} MB", highlight=False)


def _megabytes(disk: dict) -> str:
    return f"{disk['bytes'] / 1e6:.1f} ({disk['own_bytes'] / 1e6:.1f})" if disk["bytes"] else "—"


@versions_app.command("pin")
def pin(ctx: typer.Context, version: str) -> None:
    """Keep a version whatever retention (release.keep_last) decides."""
    engine(ctx).releases().pin(version)
    out.print(f"{version} pinned", highlight=False)


@versions_app.command("unpin")
def unpin(ctx: typer.Context, version: str) -> None:
    engine(ctx).releases().pin(version, pinned=False)
    out.print(f"{version} unpinned", highlight=False)


@versions_app.command("cleanup")
def cleanup(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Apply retention now (it also runs after each ingest that makes a version)."""
    collection = engine(ctx)
    done = collection.releases().cleanup()
    done["disk_bytes"] = collection.store().disk_bytes()  # walked here, not after every ingest's cleanup
    if as_json:
        return print_json(done)
    out.print(f"deleted {', '.join(done['deleted']) or 'nothing'}; {done['bytes_removed'] / 1e6:.1f} MB freed, "
              f"{done['disk_bytes'] / 1e6:.1f} MB on disk", highlight=False)


@app.command()
def gate(ctx: typer.Context, version: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Evaluate a candidate against the live version on the golden sets; exit 1 on a regression (for CI)."""
    reports = engine(ctx).releases().gate(version)
    _show(reports, as_json)
    if not all(r.passed for r in reports):
        raise typer.Exit(1)


@app.command()
def promote(
    ctx: typer.Context,
    version: str,
    force: bool = typer.Option(False, "--force", help="Skip the gate (recorded with the version)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make a candidate live if the gate passes (the reports are kept with it)."""
    releases = engine(ctx).releases()
    try:
        switched = releases.promote(version, force=force, by=actor.cli())
    except GateRefused as e:
        _show(e.reports, as_json)
        raise
    kept = releases.report(version) if releases.report_path(version, "json").exists() else {}
    if as_json:
        return print_json({**switched, "reports": kept.get("reports", [])})
    out.print(kept.get("markdown", ""), highlight=False, markup=False)
    out.print(f"{switched['live']} is live (was {switched['previous']}; pointer written in {switched['switch_ms']} ms)"
              + (" [yellow]forced: the gate was skipped[/yellow]" if force else ""), highlight=False)


@app.command()
def rollback(ctx: typer.Context, version: Optional[str] = typer.Argument(
                 None, help="Default: the previous good version (the most recently live older one that no rollback "
                            "left; never a newer one)."),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Make the previous (or named) version live again, at once and without a gate."""
    switched = engine(ctx).releases().rollback(version, by=actor.cli())
    if as_json:
        return print_json(switched)
    out.print(f"{switched['live']} is live again (was {switched['previous']}; pointer written in "
              f"{switched['switch_ms']} ms; servers follow at their next request)", highlight=False)


def _show(reports, as_json: bool) -> None:
    if as_json:
        return print_json([r.to_dict() for r in reports])
    for r in reports:
        out.print(r.markdown(), highlight=False, markup=False)


def _figure(metric: dict | None) -> str:
    if not metric:
        return ""
    return f"{metric['candidate']:.4f}" + (" ✗" if metric["regressed"] else "")


@app.command("export")
def export_version(
    ctx: typer.Context,
    args: list[str] = typer.Argument(..., metavar="[VERSION] FILE", help="The version (default: live), the archive."),
) -> None:
    """Write one version (rows, vectors, manifest, calibration, a model `adapt` trained) to a checksummed archive."""
    if len(args) > 2:
        raise typer.BadParameter("give at most a VERSION and a FILE")
    version, dest = (args[0], args[1]) if len(args) == 2 else (None, args[0])
    manifest = engine(ctx).releases().export(version, Path(dest))
    v = manifest["version"]
    (err if dest == "-" else out).print(  # with "-" the archive itself is the output
        f"exported {v['id']} ({v['counts']['documents']} documents, {v['counts']['chunks']} chunks, "
        f"{len(manifest['files'])} files) to {'standard output' if dest == '-' else dest}", highlight=False)


@app.command("import")
def import_version(ctx: typer.Context, archive: Path, as_json: bool = typer.Option(False, "--json")) -> None:
    """Verify an export's checksums and add its version: live in an empty home, else a candidate, gated."""
    imported = engine(ctx).releases().import_(archive)
    if as_json:
        return print_json(imported)
    state = "live" if imported["live"] == imported["version"] else "a candidate"
    out.print(f"imported as {imported['version']} ({state}): {imported['documents']} documents, "
              f"{imported['chunks']} chunks", highlight=False)
    if "smoke" in imported:
        out.print(f"smoke test: {imported['smoke']['found']} of {imported['smoke']['queries']} chunks found by their "
                  "own text", highlight=False)
    for r in imported.get("gate", []):
        out.print(f"gate: {'passed' if r['passed'] else 'REFUSED'} on {r['golden']}", highlight=False)
    if not all(r["passed"] for r in imported.get("gate", [])):
        err.print(f"the gate refused {imported['version']}: it stays a candidate (`ragship gate "
                  f"{imported['version']}` shows why)", highlight=False)
        raise typer.Exit(GateRefused.exit_code)


@app.command()
def doctor(ctx: typer.Context,
           repair: bool = typer.Option(False, "--repair", help="Fix what can be fixed without losing data."),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Check the home: version records, tags, file checksums, the live pointer, indexes, keys, calibrations, the
    query log and the embedding cache. Exit 0 when healthy (or repaired), 6 when problems remain."""
    findings = engine(ctx).doctor(repair)
    if as_json:
        print_json([f.to_dict() for f in findings])
    else:
        table = Table(title="ragship doctor" + (" --repair" if repair else ""))
        for col in ("check", "status", "what was found / done"):
            table.add_column(col)
        for f in findings:
            status = "[green]ok[/green]" if f.problem is None else \
                "[yellow]repaired[/yellow]" if f.repaired else "[red]problem[/red]"
            table.add_row(f.check, status, f.detail if f.problem is None else f"{f.problem}\n→ {f.remedy}")
        out.print(table)
    raise typer.Exit(0 if all(f.ok for f in findings) else HomeFileDamaged.exit_code)
