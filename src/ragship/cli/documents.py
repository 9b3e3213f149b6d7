"""`ragship ingest`."""

from __future__ import annotations

from typing import Optional

import typer

from ragship.cli.app import app, engine, print_json
from ragship.cli.render import Progress, print_ingest, print_plan
from ragship.errors import PARTIAL_EXIT
from ragship.ingest.ingestor import deletions_held, empty_corpus
from ragship.util.names import split_names


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Optional[list[str]] = typer.Argument(
        None, help="Files and folders, s3://bucket/prefix, git+URL-or-path[@branch], or a website's start page or "
                   "sitemap (https://...). Formats: .txt .md .rst .html .pdf .docx .pptx .xlsx .csv .eml .mbox "
                   ".epub .json, source code, BEIR .jsonl[.gz]; images with --ocr."),
    include: list[str] = typer.Option([], "--include", help="Only files matching this glob (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip files matching this glob (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (added/changed/deleted); write nothing."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Ingest again the inputs that failed before."),
    executor: str = typer.Option("local", "--executor", "--engine", help="local | ray (chunk + embed as a Ray Data "
                                  "job). (--engine: its old name)"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster (default: start a local one)."),
    groups: str = typer.Option("", "--groups", help="Who may read these documents: comma-separated groups "
                                                    "(default: [[sources]] groups, else everyone)."),
    ocr: bool = typer.Option(False, "--ocr", help="Read scanned PDFs and images by OCR (Tesseract; ~5 s a page)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Parse, chunk, embed and index documents; commit a new index version if anything changed."""
    with Progress(quiet=as_json) as observe:
        collection = engine(ctx)
        report = collection.release(collection.ingest(
            paths or [], observe=observe, dry_run=dry_run, retry_failed=retry_failed, include=tuple(include),
            exclude=tuple(exclude), executor=executor, ray_address=ray_address, groups=split_names(groups), ocr=ocr))
    if as_json:
        print_json(report.to_dict())
    elif dry_run:
        print_plan(report)
    else:
        print_ingest(report)
    empty = None if retry_failed else empty_corpus(report, ", ".join(map(str, paths or [])))
    if empty:
        raise empty
    held = deletions_held(report)
    if held:  # a policy outcome, like a gate refusal: the gate's exit code, not a success
        raise held
    if report.failures and not dry_run:
        raise typer.Exit(PARTIAL_EXIT)
