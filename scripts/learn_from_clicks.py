"""Retrieval learned from clicks (issue 33, must-show 1): a real `ragship serve` over SciFact; the SciFact *train*
claims are asked as users would, each answer rated up when a cited document is relevant per the train qrels
(that source marked helpful), down otherwise (its cited documents not relevant; no answerability label: a
down-vote on an answer may mean incomplete, ADR 0021), with `--noise` of the ratings flipped; the server's
scheduler sees the new labels, starts an improvement run on its own (`[improve] schedule = true`), which adapts,
gates on the held-out questions and promotes. Printed: SciFact *test* nDCG@10 of the live version before and
after (never trained on), the run's report, and the offline `adapt --split train` then `tune` figure to compare
(0.7544, ADR 0009, measured on the same machine class).

    python scripts/learn_from_clicks.py [--home DIR] [--noise 0.1] [--epochs 3] [--invert] [--golden] [--load]
                                        [--review N] [--data DIR --split NAME --questions N]

`--invert` rates every answer the wrong way round (must-show 3: a bad label stream must not hurt users);
`--golden` gates on SciFact's test split as a configured golden set too; `--load` measures search latency from
8 clients for 30 s before the replay and again while the run trains (must-show 4), and prints the run's peak RSS;
`--review N`: an editor then works through N down-rated answers on the review queue, marking the retrieved sources
the qrels call relevant (what the Review page is for: the questions the system failed on); with `--search K`, where
none is, the editor searches for the question and marks a relevant one among the top K (the document the answer
missed).
`--keys N` (issue 48): the server runs with API keys and the claims are asked and rated by N keys of `--role`
(reader by default), each claim by one key at random; the operator's calls use an admin key of their own.
`--thumbs`: ratings only, no source marked (what most users give).
`--data` another BEIR folder than SciFact, whose `--split` claims are asked (the first `--questions`; all by
default) and whose test split is scored (the suite's one-row run uses tests/data/beir-mini).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from ragship.testing import Server, cli_json, wait_for_run

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"
OFFLINE = 0.7544  # adapt --split train, then tune (issue 33's text; ADR 0009's method)


def claims(data: Path, split: str, limit: int = 0):
    """The claims asked (the first `limit`; 0: all) with the qrels that judge them."""
    from ragship.evaluate.beir import load_dataset

    train = load_dataset(data, split, corpus=False)
    asked = list(train.queries.items())[:limit or None]
    return asked, train.qrels


def replay(base: str, asked: list, qrels: dict, noise: float, invert: bool, raters: list[str],
           thumbs: bool = False, seed: int = 0) -> dict:
    """Each claim asked and rated by one of `raters` (keys; [""]: no key): up when a cited document is
    relevant (that source marked helpful, unless `thumbs`)."""
    rng = random.Random(seed)
    counts = {"asked": 0, "up": 0, "down": 0, "flipped": 0}
    clients = [httpx.Client(base_url=base, timeout=120, headers=_auth(key)) for key in raters]
    with clients[0]:
        for qid, text in asked:
            client = rng.choice(clients)
            answer = client.post("/v1/ask", json={"question": text}).raise_for_status().json()
            relevant = qrels.get(qid, {})
            helpful = [c["chunk_id"] for c in answer["citations"] if c["doc_id"] in relevant]
            good = bool(helpful)
            flipped = invert or rng.random() < noise
            good = good != flipped
            cited = [c["chunk_id"] for c in answer["citations"]]
            marks = ({helpful[0] if helpful and not flipped else rng.choice(cited): "helpful"} if good and cited
                     and not thumbs else {})
            client.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up" if good else "down",
                                              "marks": marks}).raise_for_status()
            counts["asked"] += 1
            counts["up" if good else "down"] += 1
            counts["flipped"] += flipped
    for client in clients[1:]:
        client.close()
    return counts


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"} if key else {}


def keys(env: dict, n: int, role: str) -> tuple[str, list[str]]:
    """An admin key for the operator's calls and `n` keys of `role` for the users ("", [""] when n is 0)."""
    if not n:
        return "", [""]

    def make(r, name):
        return cli_json(env, "keys", "create", "--role", r, "--name", name)["key"]

    return make("admin", "operator"), [make(role, f"user-{i}") for i in range(n)]


def review(base: str, asked: list, qrels: dict, limit: int, operator: str = "", search: int = 0) -> dict:
    """An editor works through the down-rated answers on the review queue (GET /v1/review, the Review page): in
    each, the retrieved sources that are relevant per the train qrels are marked helpful (no rating: a review);
    with `search`, where none is, the first relevant chunk among the top `search` of a search for the question
    (a review may mark the document the answer missed: ADR 0021)."""
    from ragship.learn.labels import qid_of

    relevant = {qid_of(text): qrels.get(qid, {}) for qid, text in asked}
    counts = {"reviewed": 0, "marked": 0}
    with httpx.Client(base_url=base, timeout=120, headers=_auth(operator)) as client:
        queue = client.get("/v1/review", params={"queue": "down", "limit": limit}).raise_for_status().json()
        for row in queue["answers"]:
            wanted = relevant.get(qid_of(row["question"]), {})
            found = [s["chunk_id"] for s in row["sources"] if s["doc_id"] in wanted]
            if not found and search:  # the answer missed it: the editor searches for the right document
                hits = client.get("/v1/search", params={"q": row["question"], "k": search}).raise_for_status()
                found = [h["chunk_id"] for h in hits.json()["results"] if h["doc_id"] in wanted]
            if found:
                client.post("/v1/feedback", json={"answer_id": row["id"], "marks": {found[0]: "helpful"}}
                            ).raise_for_status()
            counts["reviewed"] += 1
            counts["marked"] += bool(found)
    return counts


def load(base: str, data: Path, seconds: float = 30, clients: int = 8, operator: str = "") -> dict:
    """Search latency (ms) from `clients` threads sending the test claims for `seconds`."""
    from ragship.evaluate.beir import load_dataset

    texts = list(load_dataset(data, "test", corpus=False).queries.values())
    latencies: list[float] = []
    stop = time.time() + seconds

    def client(n: int) -> None:
        with httpx.Client(base_url=base, timeout=60, headers=_auth(operator)) as c:
            i = n
            while time.time() < stop:
                t = time.perf_counter()
                c.post("/v1/search", json={"query": texts[i % len(texts)]}).raise_for_status()
                latencies.append((time.perf_counter() - t) * 1000)
                i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1)}


def running(base: str, since: float, operator: str = "") -> bool:
    return any(r["started"] >= since and r["status"] == "running"
               for r in httpx.get(f"{base}/v1/improve", timeout=30, headers=_auth(operator)).json()["runs"])


def alert(base: str, name: str, timeout_s: float = 120, operator: str = "") -> dict | None:
    """The newest `fired` event of alert `name`, waiting up to `timeout_s` for the server's monitor round."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        events = httpx.get(f"{base}/v1/monitor/alerts", timeout=30, headers=_auth(operator)).json()["events"]
        fired = [e for e in events if e["alert"] == name and e["event"] == "fired"]
        if fired:
            return fired[0]
        time.sleep(5)
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--invert", action="store_true")
    p.add_argument("--golden", action="store_true")
    p.add_argument("--load", action="store_true")
    p.add_argument("--review", type=int, default=0, help="an editor reviews this many down-rated answers")
    p.add_argument("--search", type=int, default=0, help="in a review, where the answer missed every relevant "
                   "document, the editor searches for the question and marks one among this many results")
    p.add_argument("--port", type=int, default=8766)
    p.add_argument("--keys", type=int, default=0, help="ask and rate with this many API keys (0: no keys)")
    p.add_argument("--role", default="reader", help="the role of those keys")
    p.add_argument("--thumbs", action="store_true", help="ratings only: no source marked helpful")
    p.add_argument("--data", type=Path, default=SCIFACT, help="a BEIR folder (default: SciFact)")
    p.add_argument("--split", default="train", help="whose claims are asked and rated")
    p.add_argument("--questions", type=int, default=0, help="ask only the first N claims (0: all)")
    a = p.parse_args()
    if not a.data.is_dir():
        raise SystemExit(f"{a.data} not found: this script needs ../shared/datasets/scifact (or --data)")
    home = a.home or Path(tempfile.mkdtemp(prefix="ragship-clicks-"))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "ragship.toml"
    # with --review the run waits for the editor's reviews: new_labels counts questions (809 claims), so the
    # scheduler would start before the review; the run is started by hand after it (`ragship improve`)
    trigger = "check_every_s = 30\nnew_labels = 100000" if a.review else "check_every_s = 5\nnew_labels = 700"
    config.write_text(f"[improve]\nschedule = true\n{trigger}\nepochs = {a.epochs}\n"
                      "batch_size = 32\n\n[monitor]\nquery_text = \"keep\"\nevaluate_every_s = 10\n"
                      "\n[server]\nrate_per_minute = 100000\nburst = 10000\n"
                      + (f'\n[[release.golden]]\npath = "{a.data}"\nsplit = "test"\n' if a.golden else ""))
    env = {**os.environ, "RAGSHIP_HOME": str(home), "RAGSHIP_CONFIG": str(config)}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"data: {a.data}; commit {commit.strip()}; noise {a.noise}; invert {a.invert}; keys {a.keys} "
          f"({a.role}); thumbs only {a.thumbs}", flush=True)
    t = time.time()
    before = cli_json(env, "eval", str(a.data), "--split", "test")
    print(f"before: live {before['index_version']} test nDCG@10 {before['metrics']['ndcg@10']:.4f} "
          f"({time.time() - t:.0f} s with the ingest)", flush=True)
    operator, raters = keys(env, a.keys, a.role)
    with Server(env, port=a.port, log=home / "server.log", stop_s=30) as server:
        base = server.url
        if a.load:
            print(f"search from 8 clients, no run: {json.dumps(load(base, a.data, operator=operator))}",
                  flush=True)
        started = time.time()
        asked, qrels = claims(a.data, a.split, a.questions)
        counts = replay(base, asked, qrels, a.noise, a.invert, raters, a.thumbs)
        print(f"replayed: {json.dumps(counts)} in {time.time() - started:.0f} s", flush=True)
        if a.review:
            reviewed = review(base, asked, qrels, a.review, operator, a.search)
            print(f"an editor reviewed: {json.dumps(reviewed)}", flush=True)
            subprocess.Popen([sys.executable, "-m", "ragship", "improve", "--trigger", "after the review", "--json"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if a.load:
            while not running(base, started, operator):
                time.sleep(2)
            time.sleep(60)  # into the training
            print(f"search from 8 clients, during the run: {json.dumps(load(base, a.data, operator=operator))}",
                  flush=True)
        run = wait_for_run(base, started, 7200, operator)
        print(f"run: {json.dumps(run)} (after {time.time() - started:.0f} s)", flush=True)
        if run["status"] == "refused":
            print(f"alert: {json.dumps(alert(base, 'ImproveRefused', operator=operator))}", flush=True)
    report = [r for r in cli_json(env, "status")["improve"]["runs"]][0]
    sources = cli_json(env, "dataset", "show")["sources"]
    print(f"labels by key: {len(sources['keys'])} keys, the most from one key "
          f"{max((k['questions'] for k in sources['keys'].values()), default=0)} questions; not counted: "
          f"{json.dumps(sources['dropped'])}", flush=True)
    after = cli_json(env, "eval", str(a.data), "--split", "test")
    print(f"after: live {after['index_version']} test nDCG@10 {after['metrics']['ndcg@10']:.4f} "
          f"(before {before['metrics']['ndcg@10']:.4f}"
          + (f"; offline adapt --split train + tune {OFFLINE}" if a.data == SCIFACT else "") + "); "
          f"run {report['status']}: {report['reason']}", flush=True)
    print(f"the run's peak RSS: {report.get('peak_rss_mb')} MB (improve.memory_mb bounds it)", flush=True)


if __name__ == "__main__":
    main()
