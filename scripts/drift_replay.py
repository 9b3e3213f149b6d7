"""Query drift as a user meets it: a real `ragship serve` over SciFact answers SciFact claims (normal traffic),
then CLAP NQ's questions (another audience); the server's own monitor loop evaluates the alert rules every
`--every` seconds. Printed: after how many CLAP NQ questions QueryDrift fired, the drift report at that
moment (the business metrics that moved, the topics), and, over `--replays` runs of same-distribution traffic
(fresh random orders of SciFact's claims sent as searches, the reference reset before each), how many
raised QueryDrift.

    python scripts/drift_replay.py [--replays 20] [--every 0.5] [--home DIR] [--docs N] [--reference 300]
                                   [--recent 100]

`--docs N` ingests only SciFact's first N abstracts (the claims asked are the same; drift is about the queries).
Exit 1 when detection took more than 200 questions or more than 5 % of the replays raised a false alarm.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ragship.evaluate.beir import load_dataset, read_queries
from ragship.testing import Server, cli, env_for, query_log
from ragship.testing.bench import commit

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
REFERENCE, RECENT = 300, 100


def build_home(home: Path, config: Path, docs: int = 0) -> dict:
    env = env_for(home, config)
    if not (home / "index" / "LIVE").exists():
        corpus = load_dataset(DATASETS / "scifact", "test").corpus
        if docs:  # the first `docs` abstracts
            with gzip.open(corpus, "rt") if corpus.suffix == ".gz" else open(corpus) as f:
                lines = list(itertools.islice(f, docs))
            corpus = home.parent / f"{home.name}-corpus.jsonl"
            corpus.write_text("".join(lines))
        cli(env, "ingest", str(corpus))
    return env


def queries(path: Path) -> list[str]:
    return list(read_queries(path).values())


def ask_all(base: str, texts: list[str], route: str = "ask") -> None:
    with httpx.Client(timeout=60) as client:
        for text in texts:
            client.post(f"{base}/v1/{route}", json={"question" if route == "ask" else "query": text}).raise_for_status()


def fired(log, since: float) -> list[float]:
    """When QueryDrift fired after `since` (the alert outbox, read through monitor/alerts.py)."""
    from ragship.monitor.alerts import Alerts

    return sorted(e["at"] for e in Alerts(log).events(limit=1000)
                  if e["alert"] == "QueryDrift" and e["event"] == "fired" and e["at"] > since)


def requests_before(log, since: float, until: float) -> int:
    """Requests the query log holds from `since` to `until` (monitor/windows.py)."""
    from ragship.monitor.windows import business

    return business(log, "default", since, until)["requests"]


def detection(base: str, log, science: list[str], trivia: list[str], every: float, reference: int = REFERENCE,
              recent: int = RECENT) -> dict:
    started = time.time()
    httpx.post(f"{base}/v1/monitor/drift/reset").raise_for_status()
    ask_all(base, science[:reference + 2 * recent])
    time.sleep(3 * every)
    assert not fired(log, started), "QueryDrift fired on SciFact traffic before the switch"
    switched = time.time()
    for i, text in enumerate(trivia):
        ask_all(base, [text])
        if i % 5 == 4:
            time.sleep(2 * every)  # let the monitor see this step
            if fired(log, switched):
                break
    time.sleep(2 * every)
    at = fired(log, switched)
    delay = requests_before(log, switched, at[0]) if at else None
    report = httpx.get(f"{base}/v1/monitor/drift").json()
    return {"detected_after_questions": delay, "clap_questions_sent": i + 1, "report": report}


def false_alarms(base: str, log, science: list[str], replays: int, every: float, reference: int = REFERENCE,
                 recent: int = RECENT) -> list[bool]:
    raised = []
    for r in range(replays):
        order = random.Random(1000 + r).sample(science, reference + 3 * recent)
        httpx.post(f"{base}/v1/monitor/drift/reset").raise_for_status()
        started = time.time()
        ask_all(base, order, "search")  # searches: the same query embeddings, a third of an answer's time
        time.sleep(3 * every)
        raised.append(bool(fired(log, started)))
        print(f"replay {r + 1}: {len(order)} SciFact questions, QueryDrift {'FIRED' if raised[-1] else 'quiet'}",
              flush=True)
    return raised


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replays", type=int, default=20)
    ap.add_argument("--every", type=float, default=0.5, help="seconds between the server's monitor rounds")
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--docs", type=int, default=0, help="ingest only SciFact's first N abstracts (0: all)")
    ap.add_argument("--reference", type=int, default=REFERENCE, help="monitor.reference (20 at least)")
    ap.add_argument("--recent", type=int, default=RECENT, help="monitor.recent (20 at least)")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="drift-home-"))
    config = home.parent / f"{home.name}.toml"
    config.write_text(f'[monitor]\nquery_text = "keep"\nevaluate_every_s = {args.every}\n'
                      f"reference = {args.reference}\nrecent = {args.recent}\nmin_requests = 20\n")
    env = build_home(home, config, args.docs)
    science = queries(DATASETS / "scifact" / "queries.jsonl")
    random.Random(7).shuffle(science)
    trivia = queries(DATASETS / "clapnq-dev" / "queries.jsonl") + \
        queries(DATASETS / "clapnq-dev" / "queries_unanswerable.jsonl")
    random.Random(7).shuffle(trivia)
    print(f"machine: {os.uname().nodename}, {os.cpu_count()} cpus; data: SciFact ({len(science)} claims) then "
          f"CLAP NQ dev ({len(trivia)} questions); reference {args.reference}, recent {args.recent}; "
          f"commit {commit(ROOT)}", flush=True)
    log = query_log(env)  # the state store (SQLite or PostgreSQL) read as the server's own modules read it
    with Server(env, port=args.port) as server:
        base = server.url
        found = detection(base, log, science, trivia, args.every, args.reference, args.recent)
        r = found.pop("report")
        print(json.dumps(found))
        print(json.dumps({k: r.get(k) for k in ("status", "query", "scores", "margin", "moved")}, default=str))
        print("business, reference → recent:")
        for metric, before in r["business"]["reference"].items():
            print(f"  {metric:24} {before} → {r['business']['recent'][metric]}")
        for t in r["topics"]:
            print(f"  topic ({t['size']} struggling): {' | '.join(t['examples'])}")
        raised = false_alarms(base, log, science, args.replays, args.every, args.reference, args.recent)
    delay = found["detected_after_questions"]
    print(json.dumps({"detection_delay_questions": delay, "replays": len(raised), "false_alarms": sum(raised),
                      "false_alarm_rate": round(sum(raised) / max(1, len(raised)), 3)}))
    return 0 if delay is not None and delay <= 200 and sum(raised) <= 0.05 * len(raised) else 1


if __name__ == "__main__":
    sys.exit(main())
