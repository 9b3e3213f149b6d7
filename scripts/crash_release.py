"""Crash test for releases: `kill -9` promote, rollback, export and import at random moments, and check after
each kill that exactly one recorded version is live and serves, and that no recorded version was lost (each
still opens).

    python scripts/crash_release.py [--steps 30] [--seed 1] [--corpus FOLDER]

The home is built from the demo corpus (README.md and docs/; or the folder `--corpus` names): v1, then v2 with one
more document. Each step
starts a real `ragship` subprocess and kills it after a random delay within its usual run time (so kills land
in start-up, the gate-free switch, packing, unpacking, writing rows, indexing and committing). Prints one JSON
line per step and a summary; exits 1 on any broken invariant.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ragship.testing import cli, cli_process, engine_for, env_for

ROOT = Path(__file__).resolve().parents[1]


def check(env: dict, seen: set[str]) -> dict:
    """The invariants, read in a fresh process (as a new server would)."""
    code = ("import json, sys\nfrom ragship.engine import Engine\nfrom ragship.settings import load_settings\n"
            "e = Engine(load_settings())\n"
            "live = e.registry.live()\nids = [v.id for v in e.registry.all() if not v.release.get('deleted')]\n"
            "opens = {i: e.store().view(i).count_chunks() > 0 for i in ids}\n"
            "served = e.search('how do I roll back a version').index_version\n"
            "print(json.dumps({'live': live.id, 'ids': ids, 'opens': opens, 'served': served}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        return {"ok": False, "error": out.stderr.strip().splitlines()[-1:]}
    state = json.loads(out.stdout.strip().splitlines()[-1])
    lost = sorted(seen - set(state["ids"]))
    ok = not lost and all(state["opens"].values()) and state["served"] == state["live"] in state["ids"]
    return {"ok": ok, "live": state["live"], "versions": len(state["ids"]), "lost": lost,
            "unopenable": [i for i, good in state["opens"].items() if not good]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", type=Path, default=None, help="the folder to ingest (default: README.md and docs/)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home, archive = work / "home", work / "v1.ragship"
        env = env_for(home, work / "ragship.toml")
        corpus = work / "corpus"
        if args.corpus:
            shutil.copytree(args.corpus, corpus)
        else:
            shutil.copytree(ROOT / "docs", corpus / "docs", ignore=shutil.ignore_patterns("*.png"))
            shutil.copy(ROOT / "README.md", corpus / "README.md")
        cli(env, "ingest", str(corpus))
        (corpus / "extra.md").write_text("# Extra\n\nOne more document, so that v2 differs from v1.\n")
        cli(env, "ingest", str(corpus))
        cli(env, "export", "v1", str(archive))
        operations = {"rollback": ("rollback",),  # first: v2 is live after the setup
                      "promote": ("promote", "v2", "--force"),
                      "export": ("export", "v2", str(work / "v2.ragship")),
                      "import": ("import", str(archive))}
        durations = {}
        for name, args_ in operations.items():  # each once, whole: its usual run time
            t = time.monotonic()
            cli(env, *args_)
            durations[name] = time.monotonic() - t
        seen = _ids(env)
        failures, kills = 0, 0
        for step in range(args.steps):
            name = rng.choice(sorted(operations))
            proc = cli_process(env, *operations[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            delay = rng.uniform(0.3, 1.0) * durations[name]  # anywhere in its run, start-up included
            try:
                proc.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = True
                kills += 1
            state = check(env, seen)
            if state["ok"]:
                seen |= _ids(env)
            failures += not state["ok"]
            print(json.dumps({"step": step, "op": name, "killed_after_s": round(delay, 2) if killed else None,
                              "exit": proc.returncode, **state}), flush=True)
        print(json.dumps({"steps": args.steps, "kills": kills, "failures": failures,
                          "versions_recorded": len(seen),
                          "usual_run_s": {k: round(v, 1) for k, v in durations.items()}}))
    return 1 if failures else 0


def _ids(env: dict) -> set[str]:
    """Every recorded version, read through the version registry."""
    return {v.id for v in engine_for(env).registry.all()}


if __name__ == "__main__":
    sys.exit(main())
