"""Conversation-aware retrieval on MTRAG-UN (issue 51): the corpus ingested once into a temporary home, then nDCG@10
over the judged tasks (all, follow-ups) for the baselines (the last user turn alone, the last two joined), the
defaults (search.turn_decay, search.turns) and a grid of both, in one run; then 5-fold cross-validation over
conversations (tasks sharing a first question are one conversation): the grid point best on 4 folds scored on the
fifth, pooled, next to the defaults' figure on every task. With --answers, what the answers did per answerability
class, for the question alone and in its conversation. --ablations: what else was tried (ADR 0023).

    python benchmarks/conversations.py [--data ../shared/datasets/mtrag-un] [--answers] [--ablations]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from ragship.testing.bench import commit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "mtrag-un"
DECAYS = (0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
TURNS = (2, 3, 4, 6, 10)
FOLDS = 5


def folds_of(tasks, n: int = FOLDS) -> dict[str, int]:
    """Each task's fold: conversations (by conversation_id, and tasks sharing a first question) dealt by a hash."""
    return {t.id: int(hashlib.sha256(t.asked[0].strip().lower().encode()).hexdigest(), 16) % n for t in tasks}


def mean(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0


def figures(per_task: dict[str, float], follow: set[str], ids=None) -> tuple[float, float]:
    ids = per_task.keys() if ids is None else ids
    return mean(per_task[q] for q in ids), mean(per_task[q] for q in ids if q in follow)


def cross_validate(grid: dict[tuple, dict[str, float]], fold: dict[str, int], follow: set[str]) -> dict:
    """Per fold, the grid point best on the other folds (mean nDCG@10 of all their tasks), scored on this one."""
    held: dict[str, float] = {}
    chosen = []
    for f in range(FOLDS):
        train = [q for q in fold if fold[q] != f and q in next(iter(grid.values()))]
        test = [q for q in fold if fold[q] == f and q in next(iter(grid.values()))]
        best = max(grid, key=lambda p: mean(grid[p][q] for q in train))
        chosen.append({"fold": f, "chosen": best, "train": mean(grid[best][q] for q in train),
                       "held_out": mean(grid[best][q] for q in test), "tasks": len(test)})
        held.update({q: grid[best][q] for q in test})
    overall, follow_ups = figures(held, follow)
    return {"held_out": overall, "held_out_follow_ups": follow_ups, "folds": chosen}


def main() -> None:
    import ragship.embed.cache as cache
    from ragship.engine import Engine
    from ragship.evaluate import conversations as conv
    from ragship.evaluate.beir import load_dataset
    from ragship.retrieve.conversation import DecayedTurns
    from ragship.retrieve.search import MAX_QUERY_CHARS
    from ragship.settings import load_settings

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--home", type=Path, help="an existing home holding the corpus (default: a new temporary one)")
    p.add_argument("--answers", action="store_true", help="also ask every task (slow: minutes)")
    p.add_argument("--ablations", action="store_true", help="also the other ways measured (ADR 0023)")
    a = p.parse_args()
    if not a.data.is_dir():
        raise SystemExit(f"{a.data} not found: this benchmark needs ../shared/datasets/mtrag-un")
    cache.RECENT_QUERIES = 16384  # every user turn of the set stays encoded across the grid's runs
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"commit {commit(ROOT)}; data: {a.data}", flush=True)
    home = a.home or Path(tempfile.mkdtemp(prefix="mtrag-un-"))
    engine = Engine(load_settings(home=home))
    dataset = load_dataset(a.data)
    t = time.perf_counter()
    report = engine.release(engine.ingest([dataset.corpus]))
    print(f"home {home}: version {report.version}, {report.documents} documents, {report.chunks} chunks "
          f"({time.perf_counter() - t:.0f} s)", flush=True)
    tasks = conv.load_tasks(a.data)
    judged = [t for t in tasks if t.id in dataset.qrels]
    follow = {t.id for t in judged if t.kind == "Follow-up"}
    searcher, s = engine.searcher(), engine.settings.search
    depth = max(conv.EVAL_DEPTH * 3, s.candidates)

    def run(name: str, way) -> dict[str, float]:
        r = conv.retrieval(judged, dataset.qrels, conv.search_way(searcher, way, None, depth))
        overall, follow_ups = figures(r["per_task"], follow)
        print(json.dumps({"way": name, "ndcg@10": overall, "follow_ups": follow_ups,
                          "by_kind": r["ndcg@10_by_kind"], "search_p50_ms": r["latency_ms"]["p50"]}), flush=True)
        return r["per_task"]

    print(f"{len(judged)} judged tasks ({len(follow)} follow-ups) of {len(tasks)}", flush=True)
    run("last turn", conv.last_turn)
    run("last two turns joined", conv.last_two_joined)
    run("every user turn joined", lambda task: conv.Searched(task.asked[-1], " ".join(task.asked)[-MAX_QUERY_CHARS:]))
    default = (s.turn_decay, s.turns)
    grid = {}
    for decay in DECAYS:
        for turns in TURNS:
            way = conv.conversation_way(DecayedTurns(decay, turns, MAX_QUERY_CHARS))
            grid[(decay, turns)] = run(f"turn_decay={decay} turns={turns}" + (" (default)" if (decay, turns) == default
                                                                              else ""), way)
    if default not in grid:
        grid[default] = run(f"turn_decay={default[0]} turns={default[1]} (default)",
                            conv.conversation_way(DecayedTurns(*default, MAX_QUERY_CHARS)))
    fitted, fitted_follow = figures(grid[default], follow)
    cv = cross_validate(grid, folds_of(judged), follow)
    print(json.dumps({"cross_validation": f"{FOLDS} folds over conversations", "default": list(default),
                      "fitted": fitted, "fitted_follow_ups": fitted_follow, **cv}), flush=True)
    if a.ablations:
        ablations(judged, dataset.qrels, follow, searcher, depth, run)
    if a.answers:
        for name, ask in (("question alone", lambda task: engine.ask(task.asked[-1]).to_dict()),
                          ("in its conversation", lambda task: engine.ask(list(task.messages)).to_dict())):
            t = time.perf_counter()
            print(json.dumps({"answers": name, **conv.answer_outcomes(tasks, ask, dataset.qrels),
                              "seconds": round(time.perf_counter() - t)}), flush=True)


def ablations(judged, qrels, follow, searcher, depth, run) -> None:
    """Ways tried beside the weighted turns (ADR 0023): the last answer's text searched too, and RRF of the
    question's ranking with the weighted turns' ranking."""
    from ragship.evaluate import conversations as conv
    from ragship.retrieve.conversation import DecayedTurns
    from ragship.retrieve.search import MAX_QUERY_CHARS

    weighted = DecayedTurns(0.5, 4, MAX_QUERY_CHARS)
    for w in (0.1, 0.25, 0.5):
        def with_answer(task, w=w):
            s = weighted.searched(list(task.messages))
            answers = [m["content"] for m in task.messages if m["role"] == "assistant"]
            extra = ((answers[-1][:MAX_QUERY_CHARS], w),) if answers else ()
            return conv.Searched(s.question, s.query, s.context + extra)
        run(f"weighted turns + the last answer at {w}", with_answer)


if __name__ == "__main__":
    main()
