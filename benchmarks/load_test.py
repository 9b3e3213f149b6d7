"""Load test: N concurrent clients on 127.0.0.1 for D seconds against /v1/search and /v1/ask of a real
`ragship serve` (with API keys: every request authenticated, rate limits counted in the shared state store), over
the bundled demo corpus (README.md and docs/) or --corpus, once per --workers count (server processes over the
same home). Prints errors, throughput, p50/p99 per route and the servers' RSS (all processes) after the first
10 s and at the end, and writes the "load" section of docs/benchmarks.md.

    python benchmarks/load_test.py [--clients 32] [--seconds 60] [--workers 1 2 4] [--rounds 3] [--corpus PATH]

With --rounds R > 1, the 1- and 2-process servers run R times each, alternating (1, 2, 1, 2, ...), and each row
is the round with the median throughput; the table lists every round's req/s and 2-process/1-process ratio, as
a single 60 s run on 2 shared cores swings by ±20 % (ADR 0016).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ragship.testing import Server, cli, cli_json, env_for
from ragship.testing.bench import commit, machine, write_section
from ragship.util.stats import percentile

ROOT = Path(__file__).resolve().parents[1]

QUESTIONS = ["What happens when an ingest is killed", "How do I run the evaluation", "How are API keys stored",
             "What does the calibration threshold do", "How is hybrid search fused", "Which model embeds documents",
             "How do I roll back a version", "What is a dead letter report", "How are citations verified",
             "What does ragship adapt train", "How is prompt injection handled", "Where are uploads stored"]


def rss_kib(pid: int) -> int:
    """The resident memory of `pid` and every process under it (the workers of `serve --workers N`)."""
    try:
        total = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                     if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return total + sum(rss_kib(int(c)) for c in (children.read_text().split() if children.exists() else []))


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and every process under it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + \
        sum(cpu_s(int(c)) for c in (children.read_text().split() if children.exists() else []))


async def client(base: str, key: str, stop_at: float, seed: int, out: list) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        while time.monotonic() < stop_at:
            q = rng.choice(QUESTIONS) + rng.choice(["", "?", " please", " in ragship"])
            route = "/v1/search" if rng.random() < 0.5 else "/v1/ask"
            t = time.perf_counter()
            try:
                r = await c.get(route, params={"q": q})
                ok = r.status_code == 200
                status = r.status_code
            except httpx.HTTPError as e:
                ok, status = False, type(e).__name__
            out.append((time.monotonic(), route, (time.perf_counter() - t) * 1000, ok, status))


async def run(base: str, key: str, clients: int, seconds: float, pid: int) -> dict:
    start = time.monotonic()
    stop_at = start + seconds
    samples: list = []
    rss_10s = {}

    async def sample_rss():
        await asyncio.sleep(10)
        rss_10s["kib"] = rss_kib(pid)

    servers, clients_cpu = cpu_s(pid), time.process_time()
    await asyncio.gather(sample_rss(), *(client(base, key, stop_at, i, samples) for i in range(clients)))
    rss_end = rss_kib(pid)
    cores = {"servers": round((cpu_s(pid) - servers) / seconds, 2),  # cores busy on average (Ray's: partly)
             "clients": round((time.process_time() - clients_cpu) / seconds, 2)}
    out = {"requests": len(samples), "errors": sum(not s[3] for s in samples),
           "error_statuses": sorted({str(s[4]) for s in samples if not s[3]}),
           "throughput_rps": round(len(samples) / seconds, 1),
           "rss_after_10s_mib": round(rss_10s["kib"] / 1024, 1), "rss_end_mib": round(rss_end / 1024, 1),
           "cpu_cores": cores}
    out["rss_growth_pct"] = round(100 * (rss_end - rss_10s["kib"]) / rss_10s["kib"], 1)
    for route in ("/v1/search", "/v1/ask"):
        ms = sorted(s[2] for s in samples if s[1] == route)
        out[route] = {"requests": len(ms), "p50_ms": round(percentile(ms, 50), 1),
                      "p99_ms": round(percentile(ms, 99), 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--ray", type=int, nargs="*", default=[2], help="Ray Serve replica counts (none: skip Ray)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs of 1 and 2 processes; the median kept")
    ap.add_argument("--corpus", type=Path, nargs="*", default=[ROOT / "README.md", ROOT / "docs"])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--port", type=int, default=8765, help="the server's port on 127.0.0.1 (0: a free one)")
    args = ap.parse_args()
    print(json.dumps({"machine": machine(), "commit": commit()}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "ragship.toml"
        config.write_text("[server]\nrate_per_minute = 1000000\nburst = 100000\n")  # measure the server, not 429s
        env = env_for(Path(tmp) / "home", config)
        cli(env, "ingest", *map(str, args.corpus))
        key = cli_json(env, "keys", "create", "--role", "reader")["key"]
        rounds: dict[int, list[dict]] = {w: [] for w in args.workers}
        alternating = [w for w in (1, 2) if w in args.workers]
        for _ in range(max(1, args.rounds) if len(alternating) == 2 else 1):
            for workers in alternating:
                rounds[workers].append(serve_and_load(env, key, ["--workers", str(workers)], workers, args))
                print(json.dumps({"workers": workers, **rounds[workers][-1]}), flush=True)
        for workers in args.workers:
            if workers not in alternating:
                rounds[workers].append(serve_and_load(env, key, ["--workers", str(workers)], workers, args))
                print(json.dumps({"workers": workers, **rounds[workers][-1]}), flush=True)
        rows = {w: median_run(rounds[w]) for w in args.workers}
        for replicas in args.ray:
            label = f"Ray Serve, {replicas} replicas"
            rows[label] = serve_and_load(env, key, ["--ray", "--replicas", str(replicas)], replicas, args)
            print(json.dumps({"server": label, **rows[label]}), flush=True)
    write_section(args.out, "load", render(rows, args, rounds))
    print(f"wrote the load section of {args.out}")
    if any(r["errors"] or r["rss_growth_pct"] > 10 for r in rows.values()):
        sys.exit(1)


def serve_and_load(env: dict, key: str, options: list[str], workers: int, args) -> dict:
    # every worker ready: /readyz answered 4 times per worker in a row
    with Server(env, *options, port=args.port, in_a_row=4 * workers, ready_s=300, stop_s=120) as server:
        time.sleep(5 * workers)  # the last workers (replicas) finish loading their models
        return asyncio.run(run(server.url, key, args.clients, args.seconds, server.pid))


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r["throughput_rps"])[(len(runs) - 1) // 2]


def render(rows: dict, args, rounds: dict[int, list[dict]]) -> str:
    one = rows.get(1)
    lines = [
        f"## Load: {args.clients} concurrent clients for {args.seconds:.0f} s (`make bench-load`)",
        "",
        f"- {machine()}, commit {commit()}; a real `ragship serve --workers N` on 127.0.0.1 with API keys (rate "
        "limits counted in the home's SQLite state store), the demo corpus; each client alternates /v1/search and "
        "/v1/ask at random with no think time; the clients run on the same 2 cores",
        "",
        "| server | requests | errors | req/s | vs 1 process | search p50 / p99 ms | ask p50 / p99 ms | "
        "CPU cores: servers + clients | RSS after 10 s | RSS at end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workers, r in rows.items():
        s, a = r["/v1/search"], r["/v1/ask"]
        speedup = f"{r['throughput_rps'] / one['throughput_rps']:.2f}×" if one else "-"
        name = workers if isinstance(workers, str) else f"{workers} process{'es' * (workers > 1)}"
        lines.append(f"| {name} | {r['requests']} | {r['errors']} | {r['throughput_rps']} | {speedup} | "
                     f"{s['p50_ms']} / {s['p99_ms']} | {a['p50_ms']} / {a['p99_ms']} | "
                     f"{r['cpu_cores']['servers']} + {r['cpu_cores']['clients']} | {r['rss_after_10s_mib']} MiB | "
                     f"{r['rss_end_mib']} MiB ({r['rss_growth_pct']:+.1f} %) |")
    if len(rounds.get(1, [])) > 1 and len(rounds.get(2, [])) > 1:
        pairs = list(zip(rounds[1], rounds[2]))
        ratios = [b["throughput_rps"] / a["throughput_rps"] for a, b in pairs]
        lines += ["", "Rounds (1 process, then 2, alternating; the rows above are each count's median round): "
                  + "; ".join(f"{a['throughput_rps']} → {b['throughput_rps']} req/s ({r:.2f}×)"
                              for (a, b), r in zip(pairs, ratios))
                  + f". Median of the round ratios: {sorted(ratios)[(len(ratios) - 1) // 2]:.2f}×; ratio of the "
                  f"median rows: {rows[2]['throughput_rps'] / rows[1]['throughput_rps']:.2f}×."]
    lines += ["", "Latency under load is mostly queueing: each process runs one query at a time (the encoder and "
              "LanceDB use both cores), so p50 ≈ clients × service time ÷ processes. On 2 cores, more processes "
              "than cores contend for them, and Ray Serve's HTTP proxy and replica hop cost about what a second "
              "replica adds; both pay off with more cores or machines."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
