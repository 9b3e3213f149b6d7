"""Measuring and improving quality: `ragship eval`, `calibrate`, `tune` and `adapt`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, cast

import typer
from rich.markup import escape
from rich.table import Table

from ragship.answer.calibrate import QA_FEATURES
from ragship.cli.app import app, engine, print_json
from ragship.cli.files import writable, writable_settings, write_file, writing
from ragship.cli.render import Progress, out, training_bar
from ragship.errors import InputError
from ragship.settings import ChunkSettings, config_path, write_settings
from ragship.types import AbstainTarget

TUNE_ROWS = 15  # `tune` prints the best settings and the Pareto front; --json has every trial


@app.command("eval")
def evaluate(
    ctx: typer.Context,
    dataset: Path = typer.Argument(..., help="BEIR folder: corpus.jsonl[.gz], queries.jsonl, qrels/SPLIT.tsv."),
    split: str = typer.Option("test", "--split"),
    mode: Optional[str] = typer.Option(None, "--mode"),
    k: Optional[int] = typer.Option(None, "-k", min=1, max=1000,
                                    help="Chunks retrieved per query (default: enough for 100 docs)."),
    as_json: bool = typer.Option(False, "--json"),
    report: Optional[Path] = typer.Option(None, "--report", callback=writable, help="Write a Markdown report here."),
    conversations: bool = typer.Option(False, "--conversations", help="Ask the questions of conversations.jsonl in "
                                       "their conversations: retrieval next to the last-turn and last-two-turns "
                                       "baselines, and what the answers did by answerability and kind."),
) -> None:
    """Ingest a BEIR dataset's corpus if needed, run its queries, print retrieval quality and latency."""
    from ragship.evaluate.runner import evaluate as run_eval, markdown_report

    if conversations:
        return conversation_eval(ctx, dataset, split, mode, k, as_json, report)
    with Progress(quiet=as_json) as observe:
        result = run_eval(engine(ctx), dataset, split, mode, k, observe=observe)
    if report:
        write_file(report, markdown_report(result))
    if as_json:
        return print_json(result)
    table = Table(title=f"{result['dataset']} / {result['split']} / {result['mode']} ({result['queries']} queries)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result["metrics"].items():
        table.add_row(name, f"{value:.4f}")
    table.add_row("latency p50 ms", f"{result['latency_ms']['p50']:.1f}")
    table.add_row("latency p95 ms", f"{result['latency_ms']['p95']:.1f}")
    out.print(table)


def conversation_eval(ctx: typer.Context, dataset: Path, split: str, mode: Optional[str], k: Optional[int],
                      as_json: bool, report: Optional[Path]) -> None:
    from ragship.evaluate.conversations import evaluate_conversations, markdown_report

    with Progress(quiet=as_json) as observe:
        result = evaluate_conversations(engine(ctx), dataset, split, mode, k, observe=observe)
    if report:
        write_file(report, markdown_report(result))
    if as_json:
        return print_json(result)
    out.print(markdown_report(result), highlight=False)


@app.command()
def calibrate(
    ctx: typer.Context,
    dataset: Path = typer.Argument(..., help="BEIR folder with answers.jsonl and queries_unanswerable.jsonl."),
    split: str = typer.Option("test", "--split", help="qrels split naming the answerable questions."),
    target: Optional[str] = typer.Option(None, "--target", help="The operating point: \"precision >= 0.85\", "
                                         "\"abstain >= 0.8\" or \"answer >= 0.9\" (default answer.abstain_target)."),
    target_precision: Optional[float] = typer.Option(None, "--target-precision", min=0.5, max=1.0,
                                                     help="Short for --target \"precision >= P\"."),
    questions: Optional[Path] = typer.Option(None, "--questions", help="Also fit a question prior (is this kind of "
                                             "question answerable at all?) on questions labeled answerable or not, "
                                             "without passages: a folder in CLAP NQ train's layout."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fit answer confidence on labeled answerable/unanswerable questions; store it with the index version."""
    from dataclasses import asdict

    from ragship.evaluate.runner import calibrate as run_calibrate

    point = operating_point(target, target_precision)
    with Progress(quiet=as_json) as observe:
        c = run_calibrate(engine(ctx), dataset, split, point, observe=observe, prior_questions=questions)
    if as_json:
        return print_json(asdict(c))
    v = c.validation
    out.print(f"Calibrated on {c.fitted_on['answerable']} answerable and {c.fitted_on['unanswerable']} unanswerable "
              f"questions ({c.fitted_on['dataset']}), stored with index version {c.fitted_on['version']}.")
    out.print(f"Threshold {c.threshold:.3f} ({AbstainTarget.parse(c.target).describe()}). "
              f"Out-of-fold ({v['folds']}-fold): answers {v['answer_rate']:.1%} of answerable questions, abstains on "
              f"{v['abstain_rate']:.1%} of unanswerable ones (precision {v['abstain_precision']:.1%}).",
              highlight=False)
    qa = [f for f in c.features if f in QA_FEATURES]
    prior = c.prior and (f"; a question prior fitted on {c.prior.questions['answerable']} answerable and "
                         f"{c.prior.questions['unanswerable']} unanswerable questions ({c.prior.questions['source']})")
    out.print(f"Features: {len(c.features) - len(qa) - bool(prior)} retrieval and support signals"
              + (f" and the QA model's {', '.join(qa)} (answer.qa_model)" if qa else "; no QA model (answer.qa_model "
                 "is not set)") + (prior or ""), highlight=False)
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
    qa_model: bool = typer.Option(False, "--qa-model", "--reader", help="Train an extractive QA model instead: "
                                  "DATA is SQuAD 2.0 JSON (or its folder); writes answer.qa_model. (--reader: its old "
                                  "name)"),
    extra: Optional[Path] = typer.Option(None, "--extra", help="With --qa-model: also train on NQ-style questions "
                                         "with answer texts (a folder in CLAP NQ train's layout)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, max=20,
                                         help="Passes over the data (default 3 for the embedder, chosen on SciFact "
                                         "train, ADR 0009; 2 for a QA model, 1 with --extra: SQuAD's pass, "
                                         "then one over the NQ-style questions, ADR 0014)."),
    budget_min: Optional[float] = typer.Option(
        None, "--budget-min", min=0.1, help="Stop training after this many minutes (default: every planned step, "
        "with an ETA, so the model does not depend on how busy the machine is)."),
    batch_size: int = typer.Option(32, "--batch-size", min=2, max=256),
    lr: float = typer.Option(2e-5, "--lr", min=1e-7, max=1e-2),
    write: bool = typer.Option(True, "--write/--no-write", help="Point embed.model at the result in ragship.toml."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fine-tune the embedding model on your data; build a new index version with it."""
    from dataclasses import asdict

    from ragship.adapt.runner import adapt as run_adapt

    if extra and not qa_model:
        raise typer.BadParameter("--extra adds QA training data; use it with --qa-model", param_hint="--extra")
    if write:  # before the training, not after it
        writable_settings(config_path())
    if qa_model:
        return _adapt_qa_model(ctx, data, extra, epochs or (1 if extra else 2), budget_min, write, as_json)
    with Progress(quiet=as_json) as observe, training_bar(as_json) as progress:
        report = run_adapt(engine(ctx), data, split, unsupervised=unsupervised, reranker=reranker, epochs=epochs or 3,
                           batch_size=batch_size, lr=lr, budget_s=budget_min and budget_min * 60, observe=observe,
                           progress=progress)
    written_to = _write_models(report) if write else None
    if as_json:
        return print_json({**asdict(report), "written_to": written_to})
    v, t = report.validation, report.training
    out.print(f"Trained on {report.pairs} {report.mode} pairs: {t['steps']}/{t['planned_steps']} steps in "
              f"{t['seconds']} s (loss {t['first_loss']} -> {t['last_loss']})"
              + (f" (continued from step {t['resumed_at_step']})" if t.get("resumed_at_step") else "")
              + (" [yellow]stopped by the time budget: the same command continues it[/yellow]"
                 if t["stopped_by_budget"] else ""), highlight=False)
    out.print(f"Validation ({v['queries']} held-out queries, {v['metric']}): {v['base']:.4f} -> {v['adapted']:.4f}",
              highlight=False)
    out.print(f"Saved {report.model_path}; index version {report.version} uses it"
              + (f"; embed.model written to {written_to}" if written_to else ""), highlight=False)
    if "reranker" in report.extra:
        r = report.extra["reranker"]
        out.print(f"Reranker {r['model_path']}: {r['training']['steps']} steps in {r['training']['seconds']} s; "
                  f"held-out nDCG@10 hybrid {r['validation']['hybrid']:.4f} -> reranked "
                  f"{r['validation']['reranked']:.4f}", highlight=False)


@app.command()
def tune(
    ctx: typer.Context,
    dataset: Path = typer.Argument(..., help="BEIR folder with qrels for the split to tune on."),
    split: str = typer.Option("train", "--split"),
    write: bool = typer.Option(True, "--write/--no-write", help="Write the best settings to ragship.toml."),
    chunks: str = typer.Option("", "--chunks", callback=lambda text: _chunkings(text),
                               help="Other chunkings to try, TOKENS/OVERLAP comma-separated (e.g. 128/16,256/32): "
                                    "each is ingested into a scratch index (embedding its chunks)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search BM25 analysis (stemming, stop words) and fusion settings (mode, RRF k, weights, convex fusion) on a
    training split; keep the best (another BM25 analysis only when significantly better)."""
    from dataclasses import asdict

    from ragship.evaluate.tune import tune as run_tune

    config = config_path()
    if write:  # before the trials, not after them
        writable_settings(config)
    with Progress(quiet=as_json) as observe:
        tuned = run_tune(engine(ctx), dataset, split, observe=observe,
                         chunkings=cast(tuple[tuple[int, int], ...], chunks))  # as --chunks' callback parsed it
    trials, chosen = tuned.trials, tuned.chosen
    if write:
        with writing(config):
            write_settings(config, "search", chosen.settings)
            if chosen.chunk:
                write_settings(config, "chunk", chosen.chunk)
    if as_json:
        return print_json({"split": split, "best": asdict(trials[0]), "chosen": asdict(chosen), "why": tuned.why,
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


def operating_point(target: str | None, precision: float | None) -> AbstainTarget | None:
    """--target or --target-precision (one at most); None leaves answer.abstain_target."""
    if target is not None and precision is not None:
        raise InputError("give --target or --target-precision, not both")
    try:
        return AbstainTarget.parse(target) if target is not None else \
            AbstainTarget("precision", precision) if precision is not None else None
    except ValueError as e:
        raise InputError(f"--target: {e}") from None


def _chunkings(text: str) -> tuple[tuple[int, int], ...]:
    """--chunks 128/16,256/32, each checked by the settings model before any work."""
    try:
        return tuple((c.tokens, c.overlap) for c in (ChunkSettings.parse(p) for p in text.split(",") if p.strip()))
    except InputError as e:
        raise typer.BadParameter(str(e), param_hint="--chunks") from None


def _adapt_qa_model(ctx: typer.Context, data: Path, extra: Path | None, epochs: int, budget_min: float | None,
                    write: bool, as_json: bool) -> None:
    from ragship.adapt.runner import adapt_qa_model

    with training_bar(as_json) as progress:
        report = adapt_qa_model(engine(ctx), data, extra=extra, epochs=epochs,
                                budget_s=budget_min and budget_min * 60, progress=progress)
    written_to = None
    if write:
        written_to = str(config_path())
        with writing(config_path()):
            write_settings(config_path(), "answer", {"qa_model": report["model_path"]}, drop=("reader",))
    if as_json:
        return print_json({**report, "written_to": written_to})
    t, v = report["training"], report["validation"]
    passes = [("", t)] + ([(" then NQ-style (with a quarter of SQuAD's replayed)", report["curriculum"])]
                          if report.get("curriculum") else [])
    for name, p in passes:
        out.print(f"Trained a QA model{name} on {p['questions']} questions ({p['windows']} windows): {p['steps']}/"
                  f"{p['planned_steps']} steps in {p['seconds']} s (loss {p['first_loss']} -> {p['last_loss']})"
                  + (" (saved by an earlier run)" if p.get("reused") else "")
                  + (f" (continued from step {p['resumed_at_step']})" if p.get("resumed_at_step") else "")
                  + (" [yellow]stopped by the time budget: the same command continues it[/yellow]"
                     if p["stopped_by_budget"] else ""), highlight=False)
    out.print(f"Held-out articles ({v['questions']} questions, {v['answerable']} answerable): HasAns EM "
              f"{v['has_ans_em']:.3f} F1 {v['has_ans_f1']:.3f}, NoAns accuracy {v['no_ans_accuracy']:.3f}, "
              f"answerability AUC {v['answerability_auc']:.3f} (best threshold {v['best_threshold']})",
              highlight=False)
    for kind, o in (("another paragraph of the article", report["validation_other_paragraphs"]),
                    ("the paragraph of the article most like the question", report["validation_closest_paragraph"]),
                    *((("held-out NQ-style questions", report["validation_extra"]),)
                      if "validation_extra" in report else ())):
        out.print(f"Against {kind} ({o['questions'] - o['answerable']} pairs): NoAns accuracy "
                  f"{o['no_ans_accuracy']:.3f}, answerability AUC {o['answerability_auc']:.3f}", highlight=False)
    out.print(f"Saved {report['model_path']}" + (f"; answer.qa_model written to {written_to}" if written_to else ""),
              highlight=False)


def _write_models(report) -> str:
    """Point embed.model (and rerank.model) at what `adapt` trained, in the user's settings file."""
    config = config_path()
    with writing(config):
        write_settings(config, "embed", {"model": report.model_path})
        if "reranker" in report.extra:
            write_settings(config, "rerank", {"model": report.extra["reranker"]["model_path"]})
    return str(config)
