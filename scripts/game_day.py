"""Game day (issue 34): a real `ragship serve` under steady traffic (CLAP NQ dev's answerable questions, asked one
after another), then five faults, one at a time; for each, this script acts as the on-call person: it waits for
the incident an alert opens, acknowledges it, does what the alert's runbook says, and waits for the incident to
resolve. Reported per fault: the incident's alerts (and any other incident opened meanwhile: each should hold
only its own cause), time to detect (seconds and requests from the injection to the incident), time to recover
(the postmortem's: from the incident's opening to the fix it found, and what that was) and how long the incident
took to resolve after it, requests that failed (not 200) and answers worse than the same question's answer before
the faults (abstained where it had answered, or no longer citing the gold passage first where it had), and the
postmortem draft's first trigger candidate against the injected cause.

    python scripts/game_day.py [--home DIR] [--postmortem FILE]    (make game-day)
                               [--faults abcde] [--passages N] [--questions N]    (a smaller run: some faults, the
                                                                                   first N passages and questions)

It writes its section of docs/benchmarks.md (`--out`; between the game-day markers, which `make bench` keeps).

The users rate each answer (up when it cites the question's gold passage, down otherwise). The faults: (a) a
version missing every other passage, forced past the gate (`promote --force`), recovered with
`ragship rollback`; (b) a synced source that loses 80 % of its files, recovered by restoring them; (c) a topic
shift (SciFact's claims asked instead), recovered when the misrouted traffic stops; (d) the LLM endpoint down (an
OpenAI-compatible stub, ragship.testing.openai_stub: no LLM can run here), recovered by bringing it back; (e)
the live pointer truncated, recovered with `ragship doctor --repair`. The monitor's intervals and `for`
durations are shortened for the run and printed (CONFIG); release.auto_promote = "never" so a mass deletion
waits as a candidate (ADR 0012).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx

from ragship.evaluate.beir import load_dataset, read_queries
from ragship.testing import Server, cli_json, env_for
from ragship.testing.bench import commit, write_section
from ragship.testing.openai_stub import StubServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
CLAP, SCIFACT = SHARED / "clapnq-dev", SHARED / "scifact"
WIKI = 300  # passages in the synced source (wiki/; 80 % of it is more than release.hold_deletions_over of all)
RULES = [("QueryDrift", "query_drift_p", "<", 0.001, 0, "warning"),
         ("FeedbackLow", "positive_feedback_rate", "<", 0.7, 3, "critical"),
         ("ScoreDrift", "score_drift_p", "<", 0.001, 0, "warning"),
         ("AbstainRateHigh", "abstain_rate", ">", 0.5, 3, "warning"),
         ("ErrorRateHigh", "error_rate", ">", 0.05, 3, "critical"),
         ("LLMFallback", "llm_fallback_rate", ">", 0.2, 3, "warning"),
         ("VersionsUnreadable", "versions_unreadable", ">", 0.5, 0, "critical"),
         ("SourceStale", "source_staleness", ">", 1.0, 0, "critical")]
CONFIG = """[release]
auto_promote = "never"

[server]
rate_per_minute = 100000
burst = 100000

[[sources]]
path = "{home}/wiki"
max_age = "30s"

[answer]
generator = "openai"

[answer.llm]
base_url = "{llm}"
model = "grounded"
timeout_s = 2
retries = 0

[monitor]
evaluate_every_s = 1
window_s = 15
min_requests = 8
recent_s = 3
reference = 40
recent = 20
query_text = "keep"
"""


def config(home: Path, llm: str) -> str:
    rules = "".join(f'\n[[monitor.alerts]]\nname = "{n}"\nsignal = "{s}"\nop = "{op}"\nthreshold = {t}\nfor_s = {f}\n'
                    f'severity = "{sev}"\nrunbook = "docs/runbooks/monitoring.md#{n.lower()}"\n'
                    for n, s, op, t, f, sev in RULES)
    return CONFIG.format(home=home, llm=llm) + rules


class Traffic(threading.Thread):
    """Users, one request every `every_s`: the labeled questions in turn (or, while `shifted`, off-topic ones),
    each answer rated as a user would (up when it cites the gold passage, down when it does not or abstains),
    each request recorded as (time, question id, HTTP status, abstained, first cited document)."""

    def __init__(self, base: str, key: str, questions: list[tuple[str, str]], off_topic: list[str],
                 gold: dict[str, set[str]], every_s: float = 0.2):
        super().__init__(daemon=True)
        self.base, self.key, self.questions, self.off_topic = base, key, questions, off_topic
        self.gold, self.every_s = gold, every_s
        self.records: list[tuple] = []
        self.shifted, self.stop = False, threading.Event()

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.key}"}, timeout=60) as c:
            while not self.stop.is_set():
                qid, text = (None, self.off_topic[n % len(self.off_topic)]) if self.shifted else \
                    self.questions[n % len(self.questions)]
                n += 1
                t = time.time()
                try:
                    r = c.post("/v1/ask", json={"question": text})
                    body = r.json() if r.status_code == 200 else {}
                    cited = body.get("citations") or [{}]
                    self.records.append((t, qid, r.status_code, body.get("abstained"), cited[0].get("doc_id")))
                    if qid and body:
                        self.rate(c, body, qid)
                except httpx.HTTPError as e:
                    self.records.append((t, qid, type(e).__name__, None, None))
                self.stop.wait(max(0.0, t + self.every_s - time.time()))

    def rate(self, c: httpx.Client, answer: dict, qid: str) -> None:
        good = not answer["abstained"] and any(x["doc_id"] in self.gold[qid] for x in answer["citations"])
        c.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up" if good else "down"})

    def between(self, start: float, end: float) -> list[tuple]:
        return [r for r in list(self.records) if start <= r[0] < end]


def build_home(home: Path, limit: int = 0) -> list[str]:
    """corpus/ and wiki/ (the synced source) as one text file per passage (the first `limit`, 0: all; half of them
    in wiki/ when that is fewer than WIKI). Returns the passage ids in wiki/."""
    passages = [json.loads(line) for line in (CLAP / "corpus.jsonl").read_text().splitlines() if line.strip()]
    passages = passages[:limit or None]
    wiki = min(WIKI, len(passages) // 2)
    for i, p in enumerate(passages):
        folder = home / ("wiki" if i < wiki else "corpus")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{p['_id']}.txt").write_text(f"{p.get('title', '')}\n\n{p['text']}\n")
    return [p["_id"] for p in passages[:wiki]]


def bad_candidate(env: dict, home: Path) -> str:
    """The version fault (a) forces live: every other passage gone (a candidate: auto_promote = never)."""
    moved = []
    for folder in ("corpus", "wiki"):
        (home / "aside" / folder).mkdir(parents=True)
        for path in sorted((home / folder).iterdir())[::2]:
            moved.append((path, home / "aside" / folder / path.name))
            path.rename(moved[-1][1])
    report = held(env, "ingest", str(home / "corpus"), str(home / "wiki"))
    for path, aside in moved:
        aside.rename(path)
    shutil.rmtree(home / "aside")
    return report["version"]


def held(env: dict, *args: str) -> dict:
    """A ragship command whose outcome may be a hold (a mass deletion waits as a candidate: DeletionsHeld, exit 8
    like a gate refusal); its JSON report either way."""
    from ragship.errors import DeletionsHeld

    return cli_json(env, *args, ok=(0, DeletionsHeld.exit_code))


def wait_for(what: str, check, within_s: float = 150.0, every_s: float = 0.5):
    deadline = time.time() + within_s
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every_s)
    return None


class OnCall:
    """The on-call person, over the API with an editor key (and the CLI on the server's machine)."""

    def __init__(self, base: str, key: str, env: dict):
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        self.env = env

    def incident_after(self, t: float) -> dict | None:
        """The first incident opened from `t` on (the list is newest first)."""
        found = self.opened(t, time.time() + 1)
        return found[-1] if found else None

    def opened(self, since: float, until: float) -> list[dict]:
        found = self.http.get("/v1/incidents").json()["incidents"]
        return [i for i in found if since <= i["opened"] <= until]

    def resolved(self, incident_id: str) -> dict | None:
        i = self.http.get(f"/v1/incidents/{incident_id}").json()
        return i if i["status"] == "resolved" else None

    def quiet(self) -> bool:
        states = self.http.get("/v1/monitor/alerts").json()["states"]
        open_ = self.http.get("/v1/incidents", params={"status": "open"}).json()["incidents"]
        acked = self.http.get("/v1/incidents", params={"status": "acknowledged"}).json()["incidents"]
        return not open_ and not acked and all(s["state"] not in ("firing", "pending") for s in states)


def worse(records: list[tuple], baseline: dict, gold: dict) -> tuple[int, int]:
    """(failed, worse answers) among `records`: not 200; or abstained where the baseline answered; or the gold
    passage no longer cited first where the baseline cited it first."""
    failed = sum(r[2] != 200 for r in records)
    bad = 0
    for t, qid, status, abstained, cited in records:
        if status != 200 or qid is None or qid not in baseline:
            continue
        was_abstained, was_cited = baseline[qid]
        bad += (abstained and not was_abstained) or (was_cited in gold[qid] and cited not in gold[qid])
    return failed, bad


def fault(name: str, inject, recover, cause: str, call: OnCall, traffic: Traffic, baseline: dict, gold: dict,
          save=None) -> dict:
    if not wait_for("quiet", call.quiet, 180):
        print(f"  ({name}: alerts still firing from before after 180 s)", flush=True)
    time.sleep(16)  # one whole monitor window of normal traffic
    t0 = time.time()
    inject()
    incident = wait_for("incident", lambda: call.incident_after(t0))
    row = {"fault": name, "cause": cause}
    if incident is None:
        recover()
        return {**row, "detected": False}
    call.http.post(f"/v1/incidents/{incident['id']}/ack").raise_for_status()
    acted = time.time()
    recover()
    done = wait_for("resolved", lambda: call.resolved(incident["id"]), 180)
    end = done["resolved"] if done else time.time()
    failed, bad = worse(traffic.between(t0, end), baseline, gold)
    draft = call.http.get(f"/v1/incidents/{incident['id']}/postmortem").json()
    first = (draft["trigger_candidates"] or [{"kind": "none", "text": "none"}])[0]
    if save:
        save(draft)
    rec, others = draft["recovery"], [i for i in call.opened(t0, end) if i["id"] != incident["id"]]
    return {**row, "detected": True, "alerts": ", ".join((done or incident)["alerts"]),  # joined ones too
            "others": "; ".join(", ".join(i["alerts"]) or i["title"] for i in others),
            "detect_s": round(incident["opened"] - t0, 1),
            "detect_requests": len(traffic.between(t0, incident["opened"])),
            "action_after_alert_s": round(acted - incident["opened"], 1),
            "recover_s": rec["time_to_recover_s"],
            "fix": rec["fix"]["kind"] if rec["fix"] else "no fix recorded (to the resolution)",
            "fix_after_action_s": round(rec["fixed_at"] - acted, 1) if rec["fixed_at"] else None,
            "resolved_after_fix_s": rec["resolved_after_fix_s"] if done else None,
            "degraded": draft["impact"]["degraded"], "requests": len(traffic.between(t0, end)),
            "failed": failed, "worse": bad, "first_candidate": f"{first['kind']}: {first['text']}"[:160],
            "cause_first": first["kind"] == cause}


def labeled(limit: int = 0) -> tuple[list[tuple[str, str]], dict[str, set[str]], list[str]]:
    """CLAP NQ dev's answerable questions (the first `limit`, 0: all), their gold passages, and SciFact's claims (the
    off-topic traffic)."""
    dev = load_dataset(CLAP, "test", corpus=False)
    claims = list(read_queries(SCIFACT / "queries.jsonl").values())[:300]
    return list(dev.queries.items())[:limit or None], {qid: set(docs) for qid, docs in dev.qrels.items()}, claims


def baseline(base: str, key: str, questions: list[tuple[str, str]]) -> dict[str, tuple]:
    """Each question's answer before the faults: (abstained, first cited document)."""
    out = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for qid, text in questions:
            a = c.post("/v1/ask", json={"question": text}).raise_for_status().json()
            out[qid] = (a["abstained"], (a["citations"] or [{}])[0].get("doc_id"))
    return out


def faults(env: dict, home: Path, bad: str, stub: list, traffic: Traffic) -> list[tuple]:
    """(name, inject, recover, the trigger kind the postmortem should rank first)."""
    lost = home / "wiki-lost"

    def lose():
        lost.mkdir(exist_ok=True)
        files = sorted((home / "wiki").iterdir())
        for path in files[: len(files) * 4 // 5]:
            path.rename(lost / path.name)

    def restore():
        for path in lost.iterdir():
            path.rename(home / "wiki" / path.name)

    def llm_down():
        stub[0].__exit__(None, None, None)

    def llm_up():
        stub[0] = StubServer(stub[0].port).__enter__()

    def truncate():
        live = home / "index" / "LIVE"
        live.write_bytes(live.read_bytes()[:7])

    def shift(on: bool):
        traffic.shifted = on

    return [("(a) bad version forced live", lambda: cli_json(env, "promote", bad, "--force"),
             lambda: cli_json(env, "rollback"), "forced promote"),
            ("(b) source loses 80 % of its files", lose, restore, "sync failed"),
            ("(c) topic shift in traffic", lambda: shift(True), lambda: shift(False), "traffic shift"),
            ("(d) LLM endpoint down", llm_down, llm_up, "llm failed"),
            ("(e) live pointer truncated", truncate, lambda: cli_json(env, "doctor", "--repair"),
             "versions unreadable")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path)
    p.add_argument("--port", type=int, default=8779)
    p.add_argument("--postmortem", type=Path, help="write fault (a)'s postmortem draft (Markdown) here")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="the file whose game-day "
                   "section this run writes")
    p.add_argument("--faults", default="abcde", help="the faults to inject, by letter (default: all five)")
    p.add_argument("--passages", type=int, default=0, help="only the first N passages of the corpus (0: all)")
    p.add_argument("--questions", type=int, default=0, help="only the first N questions as traffic (0: all)")
    a = p.parse_args()
    if not (CLAP.is_dir() and SCIFACT.is_dir()):
        raise SystemExit(f"{CLAP} and {SCIFACT} are needed: this script reads ../shared/datasets")
    home = a.home or Path(tempfile.mkdtemp(prefix="ragship-game-day-"))
    stub = [StubServer().__enter__()]
    (home / "ragship.toml").parent.mkdir(parents=True, exist_ok=True)
    (home / "ragship.toml").write_text(config(home, stub[0].url))
    env = env_for(home, home / "ragship.toml")
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores; commit {commit(ROOT)}; " \
        f"{time.strftime('%Y-%m-%d', time.gmtime())}"
    print(f"machine: {machine}; data: {CLAP} (traffic, corpus), {SCIFACT} (off-topic claims); home {home}\n"
          "settings for the run:\n" + (home / "ragship.toml").read_text(), flush=True)
    build_home(home, a.passages)
    t = time.time()
    cli_json(env, "ingest", str(home / "corpus"), str(home / "wiki"))
    bad = bad_candidate(env, home)
    key = cli_json(env, "keys", "create", "--role", "editor", "--name", "on-call")["key"]
    user = cli_json(env, "keys", "create", "--role", "reader", "--name", "traffic")["key"]
    print(f"ingested {sum(1 for _ in home.glob('*/*.txt'))} passages; fault (a)'s version {bad} built "
          f"({time.time() - t:.0f} s)", flush=True)
    try:
        with Server(env, port=a.port, log=home / "server.log", stop_s=30) as server:
            base = server.url
            questions, gold, claims = labeled(a.questions)
            gold = {q: {f"{folder}/{d}.txt" for d in docs for folder in ("corpus", "wiki")} for q, docs in gold.items()}
            before = baseline(base, user, questions)
            print(f"baseline: {len(before)} questions, {sum(not v[0] for v in before.values())} answered", flush=True)
            traffic = Traffic(base, user, questions, claims, gold)
            traffic.start()
            call, rows = OnCall(base, key, env), []
            chosen = [f for f in faults(env, home, bad, stub, traffic) if f[0][1] in a.faults]
            for name, inject, recover, cause in chosen:
                save = (lambda d: a.postmortem.write_text(d["markdown"])) if a.postmortem and name.startswith("(a)") \
                    else None
                try:
                    rows.append(fault(name, inject, recover, cause, call, traffic, before, gold, save))
                except Exception as e:  # noqa: BLE001 - one fault's failure is reported; the next still runs
                    rows.append({"fault": name, "cause": cause, "detected": False, "error": f"{type(e).__name__}: {e}"})
                print(json.dumps(rows[-1]), flush=True)
            traffic.stop.set()
            lines = table(rows, len(traffic.records))
            print("\n".join(lines))
            write_section(a.out, "game-day", section(machine, lines, rows))
    finally:
        stub[0].__exit__(None, None, None)


def table(rows: list[dict], requests: int) -> list[str]:
    out = [f"{requests} requests in all.", "",
           "| fault | incident's alerts | other incidents meanwhile | detect (s / requests) | recover (s from the "
           "opening to the fix: the fix) | resolved (s after the fix) | failed | worse answers | degraded (the "
           "postmortem's impact) | postmortem's first trigger candidate | injected cause first |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if not r["detected"]:
            out.append(f"| {r['fault']} | not detected{': ' + r['error'] if r.get('error') else ''} "
                       "| | | | | | | | | |")
            continue
        out.append(f"| {r['fault']} | {r['alerts']} | {r['others'] or 'none'} | {r['detect_s']} / "
                   f"{r['detect_requests']} | {r['recover_s']}: {r['fix']} | {_s(r['resolved_after_fix_s'])} | "
                   f"{r['failed']} | {r['worse']} of {r['requests']} | {r['degraded']} | {r['first_candidate']} | "
                   f"{'yes' if r['cause_first'] else 'no'} |")
    return out


def _s(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:g}"


def section(machine: str, lines: list[str], rows: list[dict]) -> str:
    failed = [r["fault"] for r in rows if r.get("failed")]
    return "\n".join([
        "## Game day: five faults under traffic (`make game-day`)", "",
        f"`scripts/game_day.py` on {machine}: a fresh home holding clapnq-dev's 593 passages ({WIKI} of them in "
        "`wiki/`, a source synced with `max_age = \"30s\"`), served by `ragship serve` with the OpenAI-compatible "
        "stub as its LLM (no LLM runs here); a user asks clapnq-dev's 160 answerable questions in turn, one request "
        "every 0.2 s, and rates each answer (up when it cites the gold passage). The monitor for the run: "
        "evaluate_every_s 1, window_s 15, recent_s 3, min_requests 8, drift reference 40 / recent 20; rules "
        + ", ".join(f"{n} ({s} {op} {t:g}, for {f} s)" for n, s, op, t, f, _ in RULES)
        + "; release.auto_promote = never. The script is the on-call person: it acknowledges the incident the "
        "alert opens, does what the runbook says (the fault's second half below), and waits for the incident to "
        "resolve. Recover: the postmortem's time from the incident's opening to the fix it found (the first sign "
        "of recovery, or the action just before it); resolved: how long the alerts took after that. Worse answers: "
        "abstained where the baseline answered, or no longer citing the gold passage first where the baseline "
        "did; degraded: the postmortem's impact (failed, quoted because the LLM failed, abstentions and empty "
        "results above the rate before), from the trigger to the fix.", "",
        "Faults: (a) a version missing every other passage, `promote --force`, then `ragship rollback`; (b) the "
        "synced source loses 80 % of its files, then they are restored; (c) SciFact's claims asked instead, then "
        "the misrouted traffic stops; (d) the LLM endpoint down, then back; (e) `index/LIVE` truncated, then "
        "`ragship doctor --repair`.", "", *lines, "",
        "Requests that failed: " + (", ".join(failed) if failed else "none, in every fault (none is a failure by "
                                     "design: a bad version serves worse answers, a source that loses its files is "
                                     "held back, the LLM's absence falls back to quoted answers, an unreadable "
                                     "pointer leaves the open version serving)") + "."])


if __name__ == "__main__":
    main()
