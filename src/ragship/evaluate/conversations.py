"""`ragship eval DATASET --conversations`: questions asked in conversations (MTRAG-UN's layout: conversations.jsonl
beside a BEIR corpus and qrels). Retrieval is scored on the judged tasks for the configured way of searching a
conversation, next to two baselines in the same run (the last user turn alone, the last two user turns joined);
answers by what they did (answer, abstain, clarify) per answerability class and kind of turn."""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ragship import __version__
from ragship.errors import DatasetError
from ragship.evaluate.answers import token_f1
from ragship.evaluate.beir import load_dataset
from ragship.evaluate.metrics import doc_run, per_query, retrieval_metrics
from ragship.retrieve.conversation import Contextualizer, Searched
from ragship.retrieve.search import Searcher
from ragship.types import Hit
from ragship.util.clock import now
from ragship.util.stats import latency_summary

EVAL_DEPTH = 100  # documents per task, as single-turn eval
# what each answerability class should get: MTRAG-UN's partial tasks are answerable in part
EXPECTED = {"ANSWERABLE": "answer", "PARTIAL": "answer", "UNANSWERABLE": "abstain", "UNDERSPECIFIED": "clarify"}
OUTCOMES = ("answer", "abstain", "clarify")


@dataclass(frozen=True)
class Task:
    """One question of a conversation: the messages so far, the last one the user's question."""

    id: str
    conversation_id: str
    messages: tuple[dict, ...]
    answerability: str  # ANSWERABLE, PARTIAL, UNANSWERABLE or UNDERSPECIFIED
    kind: str  # Follow-up, Clarification or N/A (a question that stands alone)
    reference: str = ""

    @property
    def asked(self) -> list[str]:
        """The user turns, the question last."""
        return [m["content"] for m in self.messages if m["role"] == "user"]


def load_tasks(root: Path) -> list[Task]:
    path = Path(root) / "conversations.jsonl"
    if not path.is_file():
        raise DatasetError(f"{path}: not found; --conversations reads one task per line: _id, conversation_id, "
                           "messages (OpenAI-style, the last one the user's question), answerability, multi_turn")
    tasks = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                messages = tuple({"role": m["role"], "content": m["content"]} for m in row["messages"])
                tasks.append(Task(str(row["_id"]), str(row.get("conversation_id", row["_id"])), messages,
                                  str(row.get("answerability", "ANSWERABLE")).upper(), str(row.get("multi_turn", "")),
                                  str(row.get("reference", ""))))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise DatasetError(f'{path}:{lineno}: expected {{"_id", "messages": [{{"role", "content"}}, ...], '
                                   '"answerability", "multi_turn"}') from None
            if not tasks[-1].asked:
                raise DatasetError(f"{path}:{lineno}: the task has no user message")
    return tasks


def conversation_way(contextualizer: Contextualizer) -> Callable[[Task], Searched]:
    return lambda task: contextualizer.searched(list(task.messages))


def last_turn(task: Task) -> Searched:
    """Baseline: the question alone."""
    return Searched(task.asked[-1], task.asked[-1])


def last_two_joined(task: Task) -> Searched:
    """Baseline: the question and the user turn before it, joined (the best blind join measured, ADR 0023)."""
    return Searched(task.asked[-1], " ".join(task.asked[-2:]))


def search_way(searcher: Searcher, way: Callable[[Task], Searched], mode: str | None, k: int) -> Callable[[Task],
                                                                                                       list[Hit]]:
    def search(task: Task) -> list[Hit]:
        s = way(task)
        return searcher.search(s.query, mode, k, context=s.context).hits
    return search


def retrieval(tasks: Sequence[Task], qrels: dict[str, dict[str, int]], search: Callable[[Task], list[Hit]]
              ) -> dict[str, Any]:
    """Retrieval metrics over the judged tasks, nDCG@10 by kind, each judged task's nDCG@10, and latency."""
    judged = [t for t in tasks if t.id in qrels]
    run, latencies = {}, []
    for task in judged:
        t = time.perf_counter()
        hits = search(task)
        latencies.append((time.perf_counter() - t) * 1000)
        run[task.id] = doc_run(hits, EVAL_DEPTH)
    wanted = {t.id: qrels[t.id] for t in judged}
    scores = per_query(run, wanted)
    by_kind = {kind: [scores[t.id]["ndcg@10"] for t in judged if t.kind == kind]
               for kind in sorted({t.kind for t in judged})}
    return {"tasks": len(judged),
            "metrics": {k: round(v, 4) for k, v in retrieval_metrics(run, wanted, scores).items()},
            "ndcg@10_by_kind": {k: {"tasks": len(v), "ndcg@10": round(sum(v) / len(v), 4)} for k, v in by_kind.items()},
            "latency_ms": {k: v for k, v in latency_summary(latencies).items() if k != "p99"},
            "per_task": {q: round(s["ndcg@10"], 4) for q, s in scores.items()}}


def outcome(answer: dict[str, Any]) -> str:
    return answer.get("outcome") or ("abstain" if answer["abstained"] else "answer")


def answer_outcomes(tasks: Sequence[Task], ask: Callable[[Task], dict[str, Any]],
                    qrels: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    """What the answers did per answerability class and per kind; token F1 to the reference of answered
    answerable tasks; the share of each class that got what it should (EXPECTED); with `qrels`, the share of the
    citations of answered judged tasks that cite a relevant document."""
    done: list[tuple[Task, str, float | None]] = []
    cited = relevant = 0
    for task in tasks:
        a = ask(task)
        o = outcome(a)
        f1 = token_f1(a["answer"], task.reference) if o == "answer" and task.answerability == "ANSWERABLE" else None
        done.append((task, o, f1))
        if o == "answer" and qrels and task.id in qrels:
            cited += len(a["citations"])
            relevant += sum(c["doc_id"] in qrels[task.id] for c in a["citations"])

    def tally(rows) -> dict[str, Any]:
        counts = Counter(o for _, o, _ in rows)
        return {"tasks": len(rows), **{o: round(counts[o] / len(rows), 4) for o in OUTCOMES}}

    by_class = {c: tally([r for r in done if r[0].answerability == c])
                for c in sorted({t.answerability for t in tasks})}
    by_kind = {k: tally([r for r in done if r[0].kind == k]) for k in sorted({t.kind for t in tasks})}
    f1s = [f for _, _, f in done if f is not None]
    expected = {f"{c} ({EXPECTED[c]})": v[EXPECTED[c]] for c, v in by_class.items() if c in EXPECTED}
    # an abstention is right for an unanswerable question; a question back does not answer it either
    if "UNANSWERABLE" in by_class:
        expected["UNANSWERABLE (not answered)"] = round(1 - by_class["UNANSWERABLE"]["answer"], 4)
    return {"by_class": by_class, "by_kind": by_kind, "expected": expected,
            "answer_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
            **({"citation_precision": round(relevant / cited, 4) if cited else 0.0} if qrels else {})}


def evaluate_conversations(engine, dataset_dir: Path, split: str = "test", mode: str | None = None,
                           k: int | None = None, answers: bool = True, observe=None) -> dict[str, Any]:
    """Ingest the corpus, then score retrieval of the judged tasks three ways (the configured one and the two
    baselines) and, with `answers`, what the engine's answers did."""
    dataset = load_dataset(dataset_dir, split)
    tasks = load_tasks(dataset.root)
    report = engine.release(engine.ingest([dataset.corpus], observe=observe))
    engine = engine.at_version(report.version)
    mode = mode or engine.settings.search.mode
    depth = k or max(EVAL_DEPTH * 3, engine.settings.search.candidates)
    searcher = engine.searcher()
    ways = {"conversation": conversation_way(engine.conversation()), "last turn": last_turn,
            "last two turns joined": last_two_joined}
    result: dict[str, Any] = {
        "dataset": dataset.name, "split": split, "mode": mode, "tasks": len(tasks),
        "retrieval": {name: retrieval(tasks, dataset.qrels, search_way(searcher, way, mode, depth))
                      for name, way in ways.items()}}
    if answers:
        result["answers"] = answer_outcomes(tasks, lambda t: engine.ask(list(t.messages), mode).to_dict(),
                                            dataset.qrels)
    s = engine.settings.search
    result.update({"index_version": report.version, "documents": report.documents, "chunks": report.chunks,
                   "model": searcher.embedder.model_id, "conversation": {"turn_decay": s.turn_decay, "turns": s.turns},
                   "generator": engine.settings.answer.generator, "ragship": __version__,
                   "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}", "date": now()})
    return result


def markdown_report(result: dict[str, Any]) -> str:
    """The run as Markdown tables: retrieval by way of searching, answers by answerability class and by kind."""
    kinds = sorted({k for r in result["retrieval"].values() for k in r["ndcg@10_by_kind"]})
    c = result.get("conversation", {})
    lines = [f"# ragship evaluation: {result['dataset']} conversations ({result['split']})", "",
             f"- date: {result.get('date')}, machine: {result.get('machine')}, ragship {result.get('ragship')}",
             f"- index version: {result.get('index_version')} ({result.get('documents')} documents, "
             f"{result.get('chunks')} chunks), model: {result.get('model')}, mode: {result['mode']}",
             f"- conversation: search.turn_decay = {c.get('turn_decay')}, search.turns = {c.get('turns')}; "
             f"generator: {result.get('generator')}", "",
             "| searched | tasks | nDCG@10 | " + " | ".join(f"nDCG@10 {k}" for k in kinds) + " | Recall@10 | p50 ms |",
             "|---|---|---|" + "---|" * len(kinds) + "---|---|"]
    for name, r in result["retrieval"].items():
        by = r["ndcg@10_by_kind"]
        lines.append(f"| {name} | {r['tasks']} | {r['metrics']['ndcg@10']:.4f} | "
                     + " | ".join(f"{by[k]['ndcg@10']:.4f} ({by[k]['tasks']})" if k in by else "" for k in kinds)
                     + f" | {r['metrics']['recall@10']:.4f} | {r['latency_ms']['p50']:.1f} |")
    answers = result.get("answers")
    if answers:
        for title, rows in (("answerability", answers["by_class"]), ("kind", answers["by_kind"])):
            lines += ["", f"| {title} | tasks | answered | abstained | asked back |", "|---|---|---|---|---|"]
            lines += [f"| {name} | {v['tasks']} | {v['answer']:.1%} | {v['abstain']:.1%} | {v['clarify']:.1%} |"
                      for name, v in rows.items()]
        lines += ["", "| got what it should | share |", "|---|---|"]
        lines += [f"| {name} | {v:.1%} |" for name, v in answers["expected"].items()]
        lines += ["", f"Answer F1 to the reference (answerable tasks answered): {answers['answer_f1']:.4f}"]
        if "citation_precision" in answers:
            lines += [f"Citations of a relevant document (judged tasks answered): {answers['citation_precision']:.4f}"]
    return "\n".join(lines) + "\n"
