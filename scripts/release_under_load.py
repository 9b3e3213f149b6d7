"""Rollback under load: two `ragship serve` processes on one home, 32 clients querying both (search and ask)
while promotion and rollback alternate 20 times through the admin API of one of them.

Checks (exit 1 on any failure): no request fails; every response names the index version that served it; no
response mixes two versions (a document only v2 holds never appears in a response from v1, and always can in
one from v2); and the switch time, from sending the promote/rollback request to every process answering from
the new version (the first response of each process that names it, among the clients' own requests), p50 and
p99 (goal: p99 < 1 s).

    python scripts/release_under_load.py [--clients 32] [--switches 20] [--pause 1.0] [--corpus FOLDER]

The home is built from the demo corpus (README.md and docs/; or the folder `--corpus` names): v1, then v2 with one
more document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from ragship.testing import Server, cli, env_for

ROOT = Path(__file__).resolve().parents[1]
MARKER = "Zanzibar quartz lanterns"  # only v2 holds the document that says this
QUERIES = ["How do I roll back a version", "What happens when an ingest is killed", "How are citations verified",
           "How is hybrid search fused", f"What are {MARKER}", MARKER]


def build_home(work: Path, env: dict, source: Path | None = None) -> None:
    corpus = work / "corpus"
    if source:
        shutil.copytree(source, corpus)
    else:
        shutil.copytree(ROOT / "docs", corpus / "docs", ignore=shutil.ignore_patterns("*.png"))
        shutil.copy(ROOT / "README.md", corpus / "README.md")
    cli(env, "ingest", str(corpus))  # v1
    (corpus / "marker.md").write_text(f"# Lanterns\n\n{MARKER} are kept in the north depot. They glow at dusk.\n")
    cli(env, "ingest", str(corpus))  # v2, live
    cli(env, "rollback")  # v1 live: the runs start from it


def versions_in(body: dict) -> tuple[str, bool]:
    """(the version a response names, whether it shows the v2-only document)."""
    docs = [h["doc_id"] for h in body.get("results", [])] + [c["doc_id"] for c in body.get("citations", [])]
    return body.get("index_version", ""), any(d.endswith("marker.md") for d in docs)


async def client(bases: list[str], stop: asyncio.Event, seed: int, out: list) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=60) as c:
        while not stop.is_set():
            base, route, q = rng.choice(bases), rng.choice(["/v1/search", "/v1/ask"]), rng.choice(QUERIES)
            try:
                r = await c.get(base + route, params={"q": q})
                version, marker = versions_in(r.json()) if r.status_code == 200 else ("", False)
                status = r.status_code
            except httpx.HTTPError as e:
                version, marker, status = "", False, type(e).__name__
            out.append({"done": time.monotonic(), "base": base, "route": route, "status": status,
                        "version": version, "marker": marker})


async def switches(base: str, n: int, pause: float) -> list[tuple[float, str]]:
    """Alternate promote v2 (forced: the demo home has no golden set) and rollback, `pause` s apart, through
    one process's admin API; (when each request was sent, the version it made live)."""
    sent = []
    async with httpx.AsyncClient(timeout=60) as c:
        for i in range(n):
            await asyncio.sleep(pause)
            target = "v2" if i % 2 == 0 else "v1"
            sent.append((time.monotonic(), target))
            r = await (c.post(base + "/v1/versions/v2/promote", json={"force": True}) if target == "v2"
                       else c.post(base + "/v1/versions/rollback"))
            r.raise_for_status()
    return sent


def switch_times(sent: list[tuple[float, str]], samples: list[dict], bases: list[str]) -> list[float | None]:
    """Per switch: seconds until every process's first response naming the new version (None: one did not
    before the next switch)."""
    out = []
    for i, (t0, target) in enumerate(sent):
        t_next = sent[i + 1][0] if i + 1 < len(sent) else float("inf")
        firsts = [min((s["done"] for s in samples if s["base"] == b and s["version"] == target
                       and t0 < s["done"] < t_next), default=None) for b in bases]
        out.append(None if None in firsts else max(firsts) - t0)
    return out


async def main_async(bases: list[str], clients: int, n: int, pause: float) -> dict:
    stop, samples = asyncio.Event(), []
    tasks = [asyncio.create_task(client(bases, stop, i, samples)) for i in range(clients)]
    sent = await switches(bases[0], n, pause)
    await asyncio.sleep(pause)
    stop.set()
    await asyncio.gather(*tasks)
    took = switch_times(sent, samples, bases)
    failed = [s for s in samples if s["status"] != 200]
    unnamed = [s for s in samples if s["status"] == 200 and s["version"] not in ("v1", "v2")]
    mixed = [s for s in samples if s["version"] == "v1" and s["marker"]]
    took_ms = np.array([1000 * t for t in took if t is not None] or [np.nan])
    return {"requests": len(samples), "failed": len(failed),
            "failed_statuses": sorted({str(s["status"]) for s in failed}),
            "unnamed_version": len(unnamed), "mixed": len(mixed),
            "served_by": {v: sum(s["version"] == v for s in samples) for v in ("v1", "v2")},
            "v2_responses_with_the_v2_document": sum(s["version"] == "v2" and s["marker"] for s in samples),
            "switches": len(took), "switches_not_seen_in_time": sum(t is None for t in took),
            "switch_ms": {name: round(float(np.percentile(took_ms, p)), 1) for name, p in
                          (("p50", 50), ("p99", 99), ("max", 100))}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--switches", type=int, default=20)
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between switches")
    ap.add_argument("--corpus", type=Path, default=None, help="the folder to ingest (default: README.md and docs/)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = env_for(work / "home", work / "ragship.toml")
        build_home(work, env, args.corpus)
        servers = [Server(env, stop_s=30), Server(env, stop_s=30)]
        with contextlib.ExitStack() as running:
            for server in servers:  # both start, then both are waited on
                running.callback(server.stop)
                server.start()
            for server in servers:
                server.wait_ready()
            result = asyncio.run(main_async([s.url for s in servers], args.clients, args.switches, args.pause))
    print(json.dumps(result))
    ok = not (result["failed"] or result["unnamed_version"] or result["mixed"] or result["switches_not_seen_in_time"])
    return 0 if ok and result["v2_responses_with_the_v2_document"] else 1


if __name__ == "__main__":
    sys.exit(main())
