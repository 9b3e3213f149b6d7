"""One real row of every script in scripts/ (issue 50, must-show 4): each run end to end as a user runs it, on tiny
data (tests/data) or a small slice of ../shared/datasets (skipped, saying so, where that is absent), and what it
printed checked. The runs that serve, or take more than ~20 s on 2 cores, are marked slow (`make test-slow`)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import DATA
from runs import ROOT, json_lines, needs, ok
import runs

# a script with no run here, and why (tests/test_scripts.py checks that every other script has one)
NOT_RUN: dict[str, str] = {}  # a script without a row, and why


def run(script: str, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    """scripts/SCRIPT ARGS from the repository root, as a user runs it; its output as text."""
    return runs.run("scripts", script, *args, timeout=timeout)


def run_here(script: str, *args) -> subprocess.CompletedProcess:
    """The same, as `__main__` in this process (runs.in_process): for a script whose own process is not the point
    (the servers and CLI processes it starts are real either way)."""
    return runs.in_process("scripts", script, *args)


# -- quick: no server --------------------------------------------------------------------------------------------
def test_check_sizes_names_each_breach_and_fails(tmp_path):
    (tmp_path / "long.py").write_text("x = 1\n" * 401)
    (tmp_path / "function.py").write_text("def f():\n" + "".join(f"    y{i} = {i}\n" for i in range(60)))
    (tmp_path / "fine").mkdir()
    (tmp_path / "fine" / "small.py").write_text("def g():\n    return 1\n")
    proc = run("check_sizes.py", tmp_path, "--list", "1")
    assert proc.returncode == 1
    assert f"too long: {tmp_path / 'long.py'}: 401 lines (max 400)" in proc.stderr
    assert f"too long: {tmp_path / 'function.py'}:1 f: 61 lines (max 60)" in proc.stderr
    assert "small.py" not in proc.stderr and "2 over the limits" in proc.stderr
    assert proc.stdout.split() == ["61", f"{tmp_path / 'function.py'}:1", "f"]  # --list 1: the longest
    clean = ok(run("check_sizes.py", tmp_path / "fine"))
    assert "1 functions in 1 modules; 0 over the limits" in clean.stderr


def test_hostile_corpus_writes_every_bad_and_good_input(tmp_path):
    dest = tmp_path / "hostile"
    proc = ok(run("hostile_corpus.py", dest))
    bad, good = map(int, re.fullmatch(rf"wrote (\d+) bad and (\d+) good inputs to {dest}\n", proc.stdout).groups())
    assert bad >= 30 and good >= 10
    written = [p for p in dest.rglob("*") if not p.is_dir()]
    assert len(written) == bad + good - 1  # beir/bad-rows.jsonl counts among both: its one good row
    assert (dest / "big" / "fifo.txt").is_fifo() and (dest / "big" / "fifty-mib-single-line.txt").stat().st_size \
        >= 50 * 2**20


def test_make_format_samples_writes_each_format_with_its_fact(tmp_path):
    from ragship.errors import ParseError
    from ragship.ingest.parsers import parse_file

    proc = ok(run("make_format_samples.py", "--dest", tmp_path))
    assert proc.stdout.split("\n")[:5] == [f"wrote {f}" for f in ("pptx", "xlsx", "eml", "epub", "scanned")]
    facts = {"briefing.pptx": "Route N4 now runs every 40 minutes", "fleet.xlsx": "cream and maroon",
             "signal-fault.eml": "Brandt Rail Services", "ops.mbox": "flooded relay box",
             "ferries-history.epub": "Anneliese"}
    for name, fact in facts.items():
        path = tmp_path / name
        assert fact in parse_file(path.read_bytes(), path).text, name
    for name in ("scanned-notice.pdf", "notice.png"):  # a scan: no text layer
        path = tmp_path / name
        with pytest.raises(ParseError, match="turn OCR on for its source"):
            parse_file(path.read_bytes(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*facts, "scanned-notice.pdf", "notice.png"])


def test_incremental_scifact_embeds_only_what_changed(tmp_path, cache_dir):
    proc = ok(run_here("incremental_scifact.py", "--corpus", DATA / "beir-mini" / "corpus.jsonl", "--change", 2,
                  "--delete", 1, "--add", 1, "--work", tmp_path, "--cache", cache_dir))
    first, result = json_lines(proc.stdout)
    assert first["first_ingest"]["documents"] == 12
    second = result["second_ingest"]
    assert (second["added"], second["changed"], second["deleted"]) == (1, 2, 1) and result["ok"] is True
    assert 0 < second["chunks_embedded"] <= result["chunks_of_the_changed_and_added_documents"]
    assert result["deleted_rows_left"] == [] and result["deleted_retrievable_by_title"] == []


def test_crash_ingest_after_a_kill_equals_a_clean_ingest(tmp_path):
    proc = ok(run("crash_ingest.py", "--corpus", DATA / "beir-mini" / "corpus.jsonl", "--docs", 12, "--kills", 1,
                  "--max-delay", 3, "--batch", 2, "--work", tmp_path))
    *runs, result = json_lines(proc.stdout)
    assert [r["outcome"] for r in runs].count("killed -9") == 1 and runs[-1]["outcome"] == "final"
    assert result["ok"] is True and result["documents_after_crashes"] == 12 and result["duplicate_chunks"] == 0


def test_the_fault_matrix_runs_a_row_end_to_end():
    proc = run("fault_matrix.py", "--only", "LIVE: truncated", "--json")
    rows = json.loads(proc.stdout)
    assert proc.returncode == 0 and len(rows) == 1, proc.stderr[-2000:]
    assert rows[0]["lost"] == 0 and rows[0]["serving"].startswith("yes") and "doctor" in rows[0]["recovered_by"]


# -- slow: a real server, or many `ragship` processes -------------------------------------------------------------
@pytest.mark.slow
def test_learn_from_clicks_asks_rates_reviews_and_reports_the_run(tmp_path):
    proc = ok(run("learn_from_clicks.py", "--data", DATA / "beir-mini", "--split", "test", "--keys", 2, "--review", 10,
                  "--epochs", 1, "--port", 0, "--home", tmp_path / "home"))
    said = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    assert json.loads(said["replayed"].split(" in ")[0])["asked"] == 6  # beir-mini's judged test claims
    assert json.loads(said["an editor reviewed"])["reviewed"] >= 1
    run_ = json.loads(said["run"].rsplit(" (after", 1)[0])
    assert run_["trigger"] == "after the review" and run_["status"] == "unchanged"  # too few labels to learn
    assert "too few labels" in said["after"] and "3 keys" in said["labels by key"]


@pytest.mark.slow
def test_crash_release_keeps_one_live_version_through_kills():
    proc = ok(run("crash_release.py", "--steps", 1, "--corpus", DATA / "docs"))
    *steps, summary = json_lines(proc.stdout)
    assert len(steps) == 1 and all(s["ok"] and s["lost"] == [] for s in steps)
    assert summary["failures"] == 0 and summary["versions_recorded"] >= 2


@pytest.mark.slow
def test_doctor_demo_finds_the_damage_and_repairs_it(tmp_path):
    said = ok(run("doctor_demo.sh", tmp_path / "demo")).stdout
    exits = [line.split()[1] for line in said.splitlines() if line.startswith("exit ")]
    # doctor (healthy); the damage: search, doctor, doctor --repair (v2's data stays damaged); search, ingest, doctor
    assert exits == ["0", "6", "6", "6", "0", "0"], said
    assert "flipped one byte" in said and "deleted the LanceDB tag v1" in said
    assert said.count("│ problem │") >= 3 and said.split("$ ragship doctor --repair")[1].count("│ repaired │") >= 3


@pytest.mark.slow
@needs("scifact", "clapnq-dev")
def test_drift_replay_detects_another_audience(tmp_path):
    proc = run("drift_replay.py", "--docs", 50, "--reference", 20, "--recent", 20, "--replays", 1, "--port", 0,
               "--home", tmp_path / "home")
    summary = json_lines(proc.stdout)[-1]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: a false alarm in the one replay (small windows)
    assert summary["replays"] == 1 and summary["detection_delay_questions"] is not None, proc.stdout[-2000:]


@pytest.mark.slow
def test_freshness_trigger_starts_one_run_when_the_source_changes(tmp_path):
    proc = ok(run("freshness_trigger.py", "--docs", DATA / "docs", "--home", tmp_path / "home"))
    assert "improvement runs: 0" in proc.stdout and "trigger:" in proc.stdout
    assert proc.stdout.count("improvement run started") == 1


@pytest.mark.slow
def test_release_under_load_switches_without_a_failed_or_mixed_response():
    result = json_lines(ok(run("release_under_load.py", "--clients", 2, "--switches", 2, "--pause", 0.5,
                               "--corpus", DATA / "docs")).stdout)[-1]
    assert result["failed"] == 0 and result["mixed"] == 0 and result["switches"] == 2
    assert result["served_by"]["v1"] and result["served_by"]["v2"]


@pytest.mark.slow
def test_unanswered_trial_closes_questions_once_documents_are_added(tmp_path):
    proc = ok(run("unanswered_trial.py", "--data", DATA / "qa-mini", "--held-out", 1, "--home", tmp_path / "home"))
    assert "traffic: {'asked': 16" in proc.stdout and "closed by the added documents:" in proc.stdout


@pytest.mark.slow
def test_learn_calibration_replays_ratings_into_an_improvement_run(tmp_path):
    proc = ok(run("learn_calibration.py", "--data", DATA / "qa-mini", "--new-labels", 4, "--port", 0,
                  "--home", tmp_path / "home"))
    replayed = json.loads(re.search(r"^replayed: (\{.*?\})", proc.stdout, re.M).group(1))
    assert replayed["asked"] == 16 and replayed["up"] + replayed["down"] + replayed["unrated"] == 16
    # the scheduler's run counted the ratings (qa-mini's 8 + 8 questions are fewer than a re-fit needs)
    counted = json.loads(re.search(r"^run: .*?(\{.*?\})", proc.stdout, re.M).group(1))
    assert counted["answerable"] + counted["unanswerable"] > 0, proc.stdout
    assert "`ragship calibrate` on the gold labels, out-of-fold: " in proc.stdout and "(fitted on 8 + 8)" in proc.stdout


@needs("clapnq-dev")
def test_conversation_trial_asks_both_conversations_through_the_sdk(tmp_path):
    proc = ok(run_here("conversation_trial.py", "--passages", 8, "--faces", "sdk", "--home", tmp_path / "home"))
    verdicts = proc.stdout.split("== verdicts (the contrast rows aside)\n")[1].strip().splitlines()
    assert len(verdicts) == 1 + 8 and re.match(r"\d+ PASS of 8: ", verdicts[-1]), verdicts  # 2 chats x 2 ways x 2
    first = [line for line in verdicts if "what was the 1980 summer olympics boycott" in line]
    assert len(first) == 2 and all("PASS (answered" in line for line in first), verdicts


@pytest.mark.slow
@needs("clapnq-dev", "scifact")
def test_game_day_detects_and_recovers_a_truncated_live_pointer(tmp_path):
    out = tmp_path / "benchmarks.md"
    proc = ok(run("game_day.py", "--faults", "e", "--passages", 40, "--questions", 8, "--port", 0,
                  "--home", tmp_path / "home", "--out", out))
    row = json_lines(proc.stdout)[-1]
    assert row["fault"] == "(e) live pointer truncated" and row["detected"] is True, row
    assert "<!-- game-day: begin -->" in out.read_text()


def test_every_script_is_run_here():
    """A script added to scripts/ needs its row here (or a reason in NOT_RUN)."""
    text = Path(__file__).read_text()
    scripts = sorted(p.name for p in (ROOT / "scripts").iterdir() if p.suffix in (".py", ".sh"))
    assert [s for s in scripts if f'run("{s}"' not in text and f'run_here("{s}"' not in text and s not in NOT_RUN] == []
