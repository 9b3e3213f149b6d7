"""How the CLI shows things: progress on stderr (bars on a terminal, plain lines otherwise, nothing with --json)
and the tables and lines of each command's result. Only rendering lives here."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

# soft wrap: long paths and reasons stay on one greppable line; piped to a file or another program (no terminal,
# so no width to fit), tables are laid out wide instead of cut at 80 columns ("stat…")
PIPED_WIDTH = 240
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)


class Progress:
    """Per-stage progress: Rich bars with rate and ETA on a terminal, a plain line every few seconds otherwise,
    nothing at all with --json (stdout then carries only the JSON document)."""

    PLAIN_EVERY_S = 5.0

    def __init__(self, quiet: bool = False):
        self.quiet, self.tty = quiet, err.is_terminal
        self.rich = RichProgress(TextColumn("{task.description:>6}"), BarColumn(), MofNCompleteColumn(),
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
        if total is not None and n == 0:  # the stage starts (again, in a second pass): count from zero
            done[:] = [0, total, now]
        done[0] += n
        if total is not None:
            done[1] = total
        # a rate over less than a second (a first batch of cache hits) says nothing: shown from 1 s on
        rate = f"{done[0] / (now - done[2]):,.0f}/s" if now - done[2] >= 1.0 else ""
        if stage not in self.tasks:
            self.tasks[stage] = self.rich.add_task(stage, total=done[1], rate="")
        self.rich.update(self.tasks[stage], completed=done[0], total=done[1], rate=rate)
        if not self.quiet and not self.tty and now - self.last_line >= self.PLAIN_EVERY_S:
            self._plain_line()

    def _plain_line(self) -> None:
        self.last_line = time.monotonic()
        parts = []
        for stage, (done, total, started) in self.counts.items():
            elapsed = self.last_line - started
            rate = done / elapsed if elapsed >= 1.0 else 0.0
            eta = f", eta {(total - done) / rate:.0f}s" if total and rate and done < total else ""
            parts.append(f"{stage} {done}{f'/{total}' if total else ''}" + (f" ({rate:,.1f}/s{eta})" if rate else ""))
        err.print("progress: " + "; ".join(parts), highlight=False)


@contextlib.contextmanager
def training_bar(quiet: bool):
    """A Rich bar of training steps and loss on a terminal; a plain line every 10 steps otherwise."""
    if quiet:
        yield None
        return
    if not err.is_terminal:
        started = time.monotonic()

        def line(step: int, total: int, loss: float) -> None:
            if step % 10 == 0 or step == total:
                left = (time.monotonic() - started) / step * (total - step)
                err.print(f"train: step {step}/{total}, loss {loss:.3f}, about {left / 60:.0f} min left",
                          highlight=False)

        yield line
        return
    with RichProgress(TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=err, transient=False) as bar:
        task = bar.add_task("train", total=None, loss=0.0)
        yield lambda step, total, loss: bar.update(task, completed=step, total=total, loss=loss)


def print_plan(report) -> None:
    out.print(f"plan against {report.previous or '(empty index)'}: {report.added} added, {report.changed} changed, "
              f"{report.deleted} deleted, {report.unchanged} unchanged, {len(report.failures)} failed", highlight=False)
    for kind in ("added", "changed", "deleted"):
        for doc_id in report.plan[kind]:
            out.print(f"  {kind:<8} {doc_id}", highlight=False, markup=False)
    for f in report.failures:
        out.print(f"  failed   {f.path}: {f.reason}", highlight=False, markup=False)
    for p in report.partial:
        out.print(f"  partial  {p['source']}: {p['reason']}", highlight=False, markup=False)


def print_improve_plan(report: dict) -> None:
    """What `ragship improve --dry-run` found a run would do: each step, with the figures and settings that decide
    it, and the triggers that hold now."""
    p, needs = report["plan"], report["plan"]["needs"]
    table = Table(title="what a run would do", show_header=False)
    judged = f"{p['judged']} judged training questions (improve.min_judged = {needs['judged']})"
    table.add_row("adapt the embedding model", _step(p["adapt"], p.get("not_adapted") or judged))
    table.add_row("re-fit the calibration", _step(p["calibrate"], (
        f"{p['answerable']} answerable and {p['unanswerable']} unanswerable training questions "
        f"(improve.min_answer_labels = {needs['each_answer_label']} of each)")))
    if "new_documents" in needs:
        table.add_row("learn new documents", _step(p["unsupervised"], (
            f"{p['new_documents']} added since the model last learned (improve.min_new_documents = "
            f"{needs['new_documents']})")))
    table.add_row("gate on", escape(f"{p['heldout_judged']} judged held-out questions (improve.min_heldout = "
                                    f"{needs['heldout_judged']}); [[release.golden]] sets: {p.get('golden_sets', 0)}"))
    out.print(table)
    held = report.get("triggers") or []
    out.print("triggers holding now: " + ("; ".join(held) if held else "none (a scheduled run would not start)"),
              highlight=False, markup=False)


def _step(taken: bool, why: str) -> str:
    return ("[green]yes[/green]: " if taken else "[yellow]no[/yellow]: ") + escape(why)


def print_ingest(report) -> None:
    table = Table(title="ingest", show_header=False)
    for key in ("added", "changed", "deleted", "unchanged", "chunks_written", "chunks_embedded", "documents",
                "chunks"):
        table.add_row(key.replace("_", " "), str(getattr(report, key)))
    table.add_row("failed", str(len(report.failures)))
    state = " (new, candidate: `ragship promote`)" if report.candidate else " (new, live)" if report.new_version \
        else " (unchanged)"
    table.add_row("version", f"{report.version or '-'}{state}")
    if report.reindexed:
        table.add_row("full-text", "rebuilt for the new search.bm25_* settings")
    if report.candidate and report.deletions_held:
        table.add_row("held", f"it removes {report.deleted} documents, over release.hold_deletions_over of the live "
                      f"ones: they keep serving until `ragship promote {report.version} --force` (see below)")
    if report.ray_nodes:
        table.add_row("ray", f"chunked and embedded on {report.ray_nodes} node{'s' * (report.ray_nodes > 1)}")
    table.add_row("time", ", ".join(f"{k} {v:.1f}s" for k, v in report.timings_s.items()))
    out.print(table)
    for f in report.failures:
        err.print(f"[red]failed[/red] {escape(f.path)}: {escape(f.reason)}", highlight=False)
    for p in report.partial:
        err.print(f"[yellow]read in part[/yellow] {escape(p['source'])}: {escape(p['reason'])}", highlight=False)


def print_answer(answer: dict, printed_text: bool) -> None:
    if answer["fallback"]:
        out.print(f"[yellow]{answer['fallback']['from']} failed ({escape(answer['fallback']['reason'])}); "
                  "extractive answer:[/yellow]", highlight=False)
    searched = answer.get("searched") or {}
    if searched.get("context") or searched.get("rewritten_by"):
        with_ = "; ".join(f"{escape(t['text'][:60])} (×{t['weight']:g})" for t in searched["context"])
        out.print(f"[dim]searched: {escape(searched['query'])}" + (f"; with {with_}" if with_ else "") + "[/dim]",
                  highlight=False)
    if searched.get("fallback"):
        out.print(f"[yellow]{escape(searched['fallback']['from'])} could not rewrite the question "
                  f"({escape(searched['fallback']['reason'])}); searched with the earlier turns[/yellow]",
                  highlight=False)
    if answer.get("outcome") == "clarify":  # a question back: the documents tell several readings apart
        out.print(f"[bold magenta]asked back:[/bold magenta] {escape(answer['answer'])}", highlight=False)
    elif answer["abstained"]:
        reason = f": {escape(answer['warning'])}" if answer["warning"] else ""
        out.print(f"[yellow]Not found in the documents[/yellow] (confidence {answer['confidence']:.2f}"
                  f"{_parts(answer.get('confidence_breakdown'))}{reason}). "
                  "Closest sources:", highlight=False)
    else:
        if not printed_text or answer["fallback"]:
            out.print(answer["answer"], highlight=False, markup=False)
        if answer["warning"]:
            out.print(f"[yellow]warning: {escape(answer['warning'])}[/yellow]", highlight=False)
        out.print(f"[dim]confidence {answer['confidence']:.2f}{_parts(answer.get('confidence_breakdown'))}[/dim]")
    for r in answer["removed"]:
        out.print(f"[dim]removed: {escape(repr(r['text'][:80]))} ({escape(r['reason'])})[/dim]", highlight=False)
    spans = {c["chunk_id"]: f"{c['start']}-{c['end']}" for c in answer["citations"]}
    for d in answer["documents"]:  # each document once, with every chunk of it cited
        marks = "".join(f"\\[{n}]" for n in d["citations"])
        out.print(f"{marks} {escape(d['title'] or d['doc_id'])} [dim]({escape(d['doc_id'])}, chars "
                  f"{', '.join(spans[c] for c in d['chunk_ids'])})[/dim]", highlight=False)


def print_turns(messages: list[dict[str, Any]]) -> None:
    """A conversation's turns so far (`ragship chat`'s /history): each question and the start of its answer."""
    if not messages:
        out.print("[dim]no questions yet in this conversation[/dim]")
    n = 0
    for m in messages:
        content = m.get("content")
        text = " ".join(p.get("text", "") for p in content if isinstance(p, dict)) if isinstance(content, list) \
            else str(content or "")
        if m.get("role") == "user":
            n += 1
            out.print(f"[bold]{n}. {escape(snippet(text))}[/bold]", highlight=False)
        elif m.get("role") == "assistant":
            out.print(f"   {escape(snippet(text)) if text else '[dim](not answered)[/dim]'}", highlight=False)


def _parts(breakdown: dict | None) -> str:
    """An answer's confidence breakdown as ` (logit: base -0.41, retrieval +1.20, QA model +0.85)`."""
    if not breakdown:
        return ""
    names = {"qa_model": "QA model", "question": "question prior"}
    return " (logit: " + ", ".join(f"{names.get(k, k)} {v:+.2f}" for k, v in breakdown.items()) + ")"


def snippet(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
