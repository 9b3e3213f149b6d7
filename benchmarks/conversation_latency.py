"""What a conversation adds to an ask (issue 51: at most 15 ms at p95 with 10 turns of history, on 2 cores):
p50/p95 of Engine.ask (and of its search alone) over MTRAG-UN's corpus with 0, 3 and 10 earlier user turns (each
with the assistant's answer), interleaved so that the machine's load falls on each alike. Every timed question is
new text (a fresh query vector, as a user's question is); the earlier turns are either ones this engine was asked
before ("in a chat": their vectors are recent queries), ones another process of the home was asked ("another
worker": their vectors are on disk, embed/cache.py), or never seen anywhere ("cold": encoded in one batch).

    python benchmarks/conversation_latency.py [--data ../shared/datasets/mtrag-un] [--questions 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from ragship.testing.bench import commit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "mtrag-un"
HISTORIES = (0, 3, 10)


def history(task, pool: list[tuple[str, str]], turns: int, tag: str = "") -> list[dict]:
    """`turns` earlier user turns with their answers: the task's own, the oldest filled from `pool` (other
    conversations' turns); `tag` makes each turn's text new."""
    own = [(m["content"], "") for m in task.messages[:-1] if m["role"] == "user"]
    answers = [m["content"] for m in task.messages[:-1] if m["role"] == "assistant"]
    own = [(q, answers[i] if i < len(answers) else "") for i, (q, _) in enumerate(own)]
    turns_ = (pool + own)[-turns:] if turns else []
    messages = []
    for q, a in turns_:
        messages += [{"role": "user", "content": q + tag}, {"role": "assistant", "content": a or "I do not know."}]
    return messages


def main() -> None:
    from ragship.engine import Engine
    from ragship.evaluate.beir import load_dataset
    from ragship.evaluate.conversations import load_tasks
    from ragship.settings import load_settings
    from ragship.util.stats import latency_summary

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--home", type=Path, help="an existing home holding the corpus (default: a new temporary one)")
    p.add_argument("--questions", type=int, default=60)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"commit {commit(ROOT)}; data: {a.data}", flush=True)
    engine = Engine(load_settings(home=a.home or Path(tempfile.mkdtemp(prefix="mtrag-un-"))))
    engine.release(engine.ingest([load_dataset(a.data).corpus]))
    engine.warm_up()
    from ragship.embed.cache import CachedEmbedder, EmbeddingCache

    worker = CachedEmbedder(engine.embedder.inner, EmbeddingCache(engine.embedder.cache.path))  # another process's
    tasks = [t for t in load_tasks(a.data) if t.answerability == "ANSWERABLE"][:a.questions]
    pool = [(t.asked[0], "") for t in load_tasks(a.data)[-40:]]  # turns of other conversations, for 10 turns back
    for t in tasks:  # warm: the sentences of each question's passages are encoded once, as for any repeated topic
        engine.ask(t.asked[-1])
    times: dict[str, list[float]] = {f"{n} turns{' ' + s if n else ''}": [] for n in HISTORIES for s in
                                     (("in a chat", "another worker", "cold") if n else ("",))}
    searches: dict[str, list[float]] = {name: [] for name in times}

    def earlier(name: str, task, tag: str) -> list[dict]:
        """The history for condition `name`, its user turns asked before where the condition says so."""
        messages = history(task, pool, int(name.split()[0]), tag)
        asker = engine.embedder if "chat" in name else worker if "worker" in name else None
        for m in messages if asker else []:  # as the chat asked them before, here or in another process
            if m["role"] == "user":
                asker.embed_query(m["content"])
        return messages

    count = 0
    for r in range(a.rounds):
        for i, task in enumerate(tasks):
            for j in range(len(times)):
                name = list(times)[(i + j + r) % len(times)]  # each condition in every position alike
                n = int(name.split()[0])
                count += 1
                question = {"role": "user", "content": f"{task.asked[-1]} ({count})"}
                messages = earlier(name, task, f" ({r})" if "chat" in name else f" ({count})")
                asked = messages + [question] if n else question["content"]
                t = time.perf_counter()
                engine.searched(asked)  # the search alone: where a conversation adds its work
                searches[name].append((time.perf_counter() - t) * 1000)
                question["content"] += " again"  # a new question for the ask: its vector is not recent
                if "chat" not in name:
                    messages = earlier(name, task, f" ({count} again)")
                asked = messages + [question] if n else question["content"]
                t = time.perf_counter()
                engine.ask(asked)
                times[name].append((time.perf_counter() - t) * 1000)
    for what, measured in (("ask", times), ("search", searches)):
        base = latency_summary(measured["0 turns"])
        for name, ms in measured.items():
            s = latency_summary(ms)
            print(json.dumps({what: name, "runs": len(ms), "p50_ms": s["p50"], "p95_ms": s["p95"],
                              "added_p50_ms": round(s["p50"] - base["p50"], 2),
                              "added_p95_ms": round(s["p95"] - base["p95"], 2)}), flush=True)
    print(f"load at the end {os.getloadavg()[0]:.1f}; search.turns = {engine.settings.search.turns}", flush=True)


if __name__ == "__main__":
    main()
