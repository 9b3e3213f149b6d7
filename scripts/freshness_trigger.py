"""The freshness tie of the learning loop (issue 33, must-show 5): a folder source on a freshness objective, a
real `ragship watch` scheduler syncing it, and the improvement loop's triggers checked on the same schedule.
Syncs that change nothing start no run; a sync that brings 20 % new documents starts one, and the trigger is
printed (from the scheduler's log and from the run's row in the state store).

    python scripts/freshness_trigger.py [--home DIR] [--scifact | --docs FOLDER]

The documents are this repository's docs/*.md (the demo's corpus; or every file of `--docs`); a fifth of them are
held back and added to the source folder mid-run (too few to learn from: improve.min_new_documents is 20). With
`--scifact` the source is SciFact's corpus.jsonl, a sixth of it held back (a fifth of what is first ingested),
SciFact's test split the golden set: the run then adapts the model on the new documents alone (inverse-cloze pairs,
no labels) and the gate says whether that helped. Exit 1 when an unchanged sync starts a run or the changed one does
not.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ragship.monitor.freshness import Freshness
from ragship.testing import cli_json, cli_process, env_for, improvement_run, query_log, settings_for
from ragship.testing.bench import commit

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"
MAX_AGE_S = 8  # the scheduler syncs every quarter of it: every 2 s
CHECK_EVERY_S = 2


def syncs(freshness, sources) -> tuple[float | None, str | None]:
    """The source's last good sync and the version it left live."""
    found = freshness.status("default", sources)
    return (found[0]["last_success"], found[0]["version"]) if found else (None, None)


def runs(env: dict) -> list[dict]:
    return cli_json(env, "status")["improve"]["runs"]


def wait(until, timeout_s: float, what: str):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        found = until()
        if found:
            return found
        time.sleep(1)
    raise SystemExit(f"timed out waiting for {what}")


def report(env: dict, run_id: str) -> None:
    """What the run learned from and what the gate measured."""
    body = improvement_run(env, run_id)
    print(f"  plan: {json.dumps({k: body['plan'].get(k) for k in ('adapt', 'unsupervised', 'new_documents')})}",
          flush=True)
    if body.get("adaptation"):
        print("  adaptation: " + json.dumps({k: body["adaptation"].get(k) for k in (
            "labeled_pairs", "cloze_pairs", "new_documents")} | {"seconds": body["adaptation"]["training"].get(
                "seconds")}), flush=True)
    for g in body.get("gate") or []:
        print(f"  gate on {g['golden']}: " + ", ".join(f"{c['metric']} {c['live']:.4f} -> {c['candidate']:.4f}"
                                                     for c in g["checks"]), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path)
    p.add_argument("--scifact", action="store_true")
    p.add_argument("--docs", type=Path, default=ROOT / "docs", help="the documents (default: docs/*.md)")
    a = p.parse_args()
    home = a.home or Path(tempfile.mkdtemp(prefix="ragship-freshness-"))
    folder = home.parent / f"{home.name}-source"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if a.scifact:
        lines = gzip.open(SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8").read().splitlines(keepends=True)
        docs, source = lines, folder / "corpus.jsonl"
        held = lines[-math.ceil(len(lines) / 6):]  # a fifth of what is first ingested, or a hair more
        source.write_text("".join(lines[:-len(held)]))

        def add() -> None:
            source.write_text("".join(lines))

        golden = f'[[release.golden]]\npath = "{SCIFACT}"\nsplit = "test"\n\n'
    else:
        pattern = "*.md" if a.docs == ROOT / "docs" else "*"
        docs, source = sorted(d for d in a.docs.rglob(pattern) if d.is_file()), folder
        held = docs[-math.ceil(len(docs) / 6):]  # a fifth of the documents the model starts from, or a hair more
        for d in docs:
            if d not in held:
                shutil.copy(d, folder / d.name)

        def add() -> None:
            for d in held:
                shutil.copy(d, folder / d.name)

        golden = ""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "ragship.toml"
    config.write_text(f'[[sources]]\npath = "{source}"\nmax_age = "{MAX_AGE_S}s"\n\n{golden}'
                      f"[improve]\nschedule = true\ncheck_every_s = {CHECK_EVERY_S}\ncorpus_change = 0.2\n"
                      + ("unsupervised = true\n" if a.scifact else ""))
    env = env_for(home, config)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; commit {commit(ROOT)}; "
          f"source {source} ({len(docs) - len(held)} documents, {len(held)} held back); sync every "
          f"{MAX_AGE_S / 4:g} s, triggers checked every {CHECK_EVERY_S} s, improve.corpus_change = 0.2", flush=True)
    first = cli_json(env, "ingest", str(source))
    print(f"first ingest: {first['version']}, {first['added']} documents", flush=True)
    # the state store (SQLite or PostgreSQL) read as the scheduler's own modules read it
    freshness, sources = Freshness(query_log(env)), settings_for(env).sources
    log_path = home / "watch.log"
    with open(log_path, "w") as log:
        watcher = cli_process(env, "watch", "--every", "2", stdout=log, stderr=subprocess.STDOUT)
    try:
        start = time.time()
        wait(lambda: (syncs(freshness, sources)[0] or 0) > start, 600, "a first scheduled sync")
        time.sleep(10)  # several unchanged syncs and trigger checks
        last, version = syncs(freshness, sources)
        quiet = runs(env)
        print(f"unchanged syncs for {time.time() - start:.0f} s: last good sync {time.time() - last:.1f} s ago, "
              f"live {version}; improvement runs: {len(quiet)}", flush=True)
        add()
        added = time.time()
        print(f"added {len(held)} documents to the source ({len(held) / (len(docs) - len(held)):.0%})", flush=True)
        run = wait(lambda: next(iter(runs(env)), None), 1800, "an improvement run")
        live = syncs(freshness, sources)[1]
        print(f"a sync picked them up (live {live}); run {run['id']} started {run['started'] - added:.1f} s "
              f"after the change\n  trigger: {run['trigger']}", flush=True)
        done = wait(lambda: next((r for r in runs(env) if r["status"] != "running"), None), 7200, "the run's end")
        print(f"  outcome: {done['status']}: {done['reason']}", flush=True)
        report(env, done["id"])
    finally:
        watcher.terminate()
        watcher.wait(30)
    said = [line.strip() for line in log_path.read_text().splitlines() if "improvement run started" in line]
    print("the scheduler's log:\n  " + "\n  ".join(said), flush=True)
    return 0 if not quiet and len(said) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
