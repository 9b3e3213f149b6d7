"""The CLI in-process (Typer's CliRunner) and, for the README's commands, as real subprocesses."""

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from unittest import mock

from typer.testing import CliRunner

from conftest import DATA
from ragship.cli import app, main
from ragship.errors import PARTIAL_EXIT

runner = CliRunner()


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def cli(*args, home, **env) -> Run:
    """`ragship ARGS` in this process, through the console script's own entry point (cli.main: its exit codes and
    its one-line errors), with RAGSHIP_HOME and `env` set for the call: the models load once per test process."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, {"RAGSHIP_HOME": str(home), **env}), \
            mock.patch.object(sys, "argv", ["ragship", *map(str, args)]), \
            contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    return Run(code, stdout.getvalue(), stderr.getvalue())


def process(*args, home, **env) -> subprocess.CompletedProcess:
    """Run `ragship` as a subprocess, as a user would (the README's commands)."""
    env = {**os.environ, "RAGSHIP_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "ragship", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_ingest_twice_then_search_ask_status(tmp_path):
    """The README's commands: the first ingest and the question as real processes, the rest in this one."""
    home = tmp_path / "home"
    first = process("ingest", DATA / "docs", "--json", home=home)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["added"] == 6 and report["version"] == "v1"
    second = json.loads(cli("ingest", DATA / "docs", "--json", home=home).stdout)
    assert second["chunks_embedded"] == 0 and second["version"] == "v1"

    result = cli("search", "weekly pass price", "--mode", "hybrid", "-k", "2", "--json", home=home)
    hits = json.loads(result.stdout)["results"]
    assert len(hits) == 2 and hits[0]["doc_id"] == "docs/handbook/trams.md"
    assert {"doc_id", "chunk_id", "title", "text", "start", "end", "score", "rank"} <= hits[0].keys()

    answer = json.loads(process("ask", "How much is a single ticket?", "--json", home=home).stdout)
    assert not answer["abstained"] and "2 krona" in answer["answer"] and "[1]" in answer["answer"]

    status = json.loads(cli("status", "--json", home=home).stdout)
    assert status["live_version"] == "v1" and status["documents"] == 6
    assert status["model"].startswith("all-MiniLM-L6-v2@") and status["failures"] == []


def test_home_option_overrides_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGSHIP_HOME", str(tmp_path / "env-home"))
    result = runner.invoke(app, ["--home", str(tmp_path / "opt-home"), "status", "--json"])
    assert json.loads(result.stdout)["home"] == str((tmp_path / "opt-home").resolve())


def test_partial_failures_exit_distinctly_and_are_listed(tmp_path):
    home = tmp_path / "home"
    result = cli("ingest", DATA / "docs/handbook/history.txt", DATA / "bad", home=home)
    assert result.returncode == PARTIAL_EXIT
    for name in ("truncated.pdf", "zip-renamed.pdf", "binary.txt", "latin1.txt", "empty.md"):
        assert name in result.stderr
    status = cli("status", home=home).stdout
    assert "5 inputs failed" in status


def test_qa_training_data_without_the_qa_model_flag_is_refused(tmp_path):
    result = cli("adapt", DATA / "qa-mini", "--extra", DATA / "nq-mini", home=tmp_path / "home")
    assert result.returncode == 2 and "use it with --qa-model" in result.stderr and "Traceback" not in result.stderr
    bad = cli("adapt", DATA / "squad-mini.json", "--qa-model", "--extra", tmp_path, home=tmp_path / "home")
    assert bad.returncode != 0 and "no *_answerable.tsv file" in bad.stderr + bad.stdout


def test_nothing_ingestible_is_one_clear_error(tmp_path):
    result = cli("ingest", tmp_path / "missing-folder", home=tmp_path / "home")
    assert result.returncode == 2
    assert "path not found" in result.stderr and "nothing could be ingested" in result.stderr
    assert "Traceback" not in result.stderr


def test_search_before_ingest_says_what_to_do(tmp_path):
    result = cli("search", "anything", home=tmp_path / "home")
    assert result.returncode == 5 and "run `ragship ingest PATH` first" in result.stderr


def test_eval_without_qrels_is_one_line(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds/corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n')
    result = cli("eval", tmp_path / "ds", home=tmp_path / "home")
    assert result.returncode == 2 and "no qrels for split 'test'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tune_refuses_a_malformed_chunking_before_any_work(tmp_path):
    result = runner.invoke(app, ["--home", str(tmp_path / "h"), "tune", str(DATA / "beir-mini"),
                                 "--chunks", "128/16,8x"])
    assert result.exit_code == 2 and "'8x': write TOKENS/OVERLAP" in result.output
    assert not (tmp_path / "h").exists()


def test_eval_json_and_report(tmp_path):
    report = tmp_path / "report.md"
    result = cli("eval", DATA / "beir-mini", "--mode", "bm25", "--json", "--report", report, home=tmp_path / "h")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"dataset", "split", "mode", "queries", "metrics", "latency_ms"} <= data.keys()
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10"} <= data["metrics"].keys()
    assert {"p50", "p95"} <= data["latency_ms"].keys()
    assert data["mode"] == "bm25" and data["queries"] == 6
    assert "| ndcg@10 |" in report.read_text()


def test_eval_conversations_reports_retrieval_and_answers_by_class(tmp_path):
    result = cli("eval", DATA / "conversations-mini", "--conversations", "--json", home=tmp_path / "h")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data["retrieval"]) == {"conversation", "last turn", "last two turns joined"}
    assert set(data["answers"]["by_class"]) == {"ANSWERABLE", "UNANSWERABLE", "UNDERSPECIFIED"}
    assert data["answers"]["by_class"]["UNDERSPECIFIED"]["clarify"] == 1.0
    shown = cli("eval", DATA / "conversations-mini", "--conversations", home=tmp_path / "h")
    assert "| UNDERSPECIFIED | 1 |" in shown.stdout and "| last turn | 3 |" in shown.stdout


def test_ask_in_a_conversation_from_a_file(tmp_path):
    home, chat = tmp_path / "h", tmp_path / "chat.json"
    assert cli("ingest", DATA / "conversations-mini" / "corpus.jsonl", home=home).returncode == 0
    earlier = [{"role": "user", "content": "What was the Dada art movement?"},
               {"role": "assistant", "content": "An avant-garde movement."}]
    chat.write_text(json.dumps({"messages": earlier}))
    data = json.loads(cli("ask", "who founded it?", "--conversation", chat, "--json", home=home).stdout)
    assert data["question"] == "who founded it?" and data["citations"][0]["doc_id"] == "dada"
    assert data["searched"]["context"] == [{"text": "What was the Dada art movement?", "weight": 0.5}]
    chat.write_text(json.dumps(earlier + [{"role": "user", "content": "who founded it?"}]))
    shown = cli("ask", "--conversation", chat, home=home)
    assert shown.returncode == 0 and "searched: who founded it?; with What was the Dada art movement? (×0.5)" in \
        " ".join(shown.stdout.split())
    missing = cli("ask", "--conversation", tmp_path / "none.json", home=home)
    assert missing.returncode != 0 and "cannot read the conversation" in missing.stderr
    assert cli("ask", home=home).returncode == 2


def test_invalid_setting_from_toml_is_one_line(tmp_path):
    config = tmp_path / "ragship.toml"
    config.write_text("[chunk]\ntokens = 10\noverlap = 20\n")
    result = cli("status", home=tmp_path / "h", RAGSHIP_CONFIG=str(config))
    assert result.returncode == 2
    assert "chunk.tokens" in result.stderr or "chunk" in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_retry_and_engine_flags(tmp_path):
    home = tmp_path / "home"
    plan = cli("ingest", DATA / "docs", "--dry-run", home=home)
    assert plan.returncode == 0 and "6 added" in plan.stdout and "added    docs/handbook/trams.md" in plan.stdout
    assert json.loads(cli("status", "--json", home=home).stdout)["live_version"] is None
    retry = cli("ingest", "--retry-failed", home=home)
    assert retry.returncode == 2 and "no failed inputs to retry" in retry.stderr
    bad_engine = cli("ingest", DATA / "docs", "--executor", "spark", home=home)
    assert bad_engine.returncode == 2 and "--executor must be local or ray" in bad_engine.stderr


def test_reasons_are_printed_as_written_not_as_markup(tmp_path):
    """A reason or path with brackets ("[[sources]]") is printed as it is, in the plan and after an ingest."""
    scan = DATA / "formats/scanned-notice.pdf"
    plan = cli("ingest", scan, "--dry-run", home=tmp_path / "home")
    assert f"failed   {scan}: no text layer" in plan.stdout and "`ocr = true` in its [[sources]] entry" in plan.stdout
    ingest = cli("ingest", scan, home=tmp_path / "home")
    assert ingest.returncode == 2 and "in its [[sources]] entry" in ingest.stderr


def test_plain_progress_lines_without_a_terminal(tmp_path):
    result = cli("ingest", DATA / "docs", home=tmp_path / "home")
    assert result.returncode == 0
    assert "progress: scan 6/6" in result.stderr


def test_collections_from_the_cli(tmp_path):
    home = tmp_path / "home"
    assert cli("collections", "create", "notes", "--settings", '{"search": {"top_k": 2}}', home=home).returncode == 0
    assert cli("collections", "create", "notes", home=home).returncode == 2  # exists: one clear error
    assert cli("--collection", "notes", "ingest", DATA / "docs", home=home).returncode == 0
    hits = json.loads(cli("--collection", "notes", "search", "tram", "--json", home=home).stdout)["results"]
    assert len(hits) == 2  # the collection's own search.top_k
    listed = json.loads(cli("collections", "list", "--json", home=home).stdout)
    assert [(c["name"], c["documents"]) for c in listed] == [("default", 0), ("notes", 6)]
    missing = cli("--collection", "nope", "search", "tram", home=home)
    assert missing.returncode == 2 and "no collection 'nope'" in missing.stderr
    assert cli("collections", "delete", "notes", home=home).returncode == 0


def test_tables_piped_to_a_file_keep_every_column_whole(tmp_path):
    """Issue 31 item 11: `ragship versions > file` cut columns to "stat…" and "reti…" at 80 columns."""
    assert cli("ingest", DATA / "docs", home=tmp_path / "home").returncode == 0
    listed = process("versions", home=tmp_path / "home", COLUMNS="").stdout  # a real pipe
    assert "status" in listed and "all-MiniLM-L6-v2" in listed and "…" not in listed, listed


def test_progress_restarts_a_stage_from_zero_and_shows_no_rate_before_a_second(monkeypatch, capsys):
    """Issue 31 item 14: "scan 10366/5183" (a second pass counted on), an embedding rate of "1,499,830/s" (a first
    batch of cache hits over a few microseconds)."""
    from ragship.cli import render

    clock = iter([0.0, 0.0, 0.001, 0.002, 10.0, 10.0, 10.0, 10.0, 10.0, 20.0, 20.0])
    monkeypatch.setattr(render.time, "monotonic", lambda: next(clock))
    progress = render.Progress()
    progress.tty = False
    progress("embed", 5000)  # a burst of cache hits at once
    progress._plain_line()
    progress("scan", 0, total=10)
    progress("scan", 10)
    progress("scan", 0, total=10)  # the same stage again (a second ingest of the run)
    progress("scan", 4)
    progress._plain_line()
    lines = capsys.readouterr().err.splitlines()
    assert "/s" not in lines[0] and "scan 4/10" in lines[-1] and "20/10" not in lines[-1]


def test_serve_on_a_taken_port_is_one_line_naming_the_port_before_serving(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = cli("serve", "--port", port, home=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"port {port}" in lines[0] and "--port N" in lines[0] and "stop the process" in lines[0]
    assert "serving" not in r.stderr and "Errno" not in r.stderr


def test_keys_list_has_a_header_row_naming_its_columns(tmp_path):
    from ragship.access import KeyStore
    from ragship.state import State

    state = State(None, tmp_path)
    KeyStore(state).create("editor", ["ops"], "ops-bot")
    state.close()
    r = cli("keys", "list", home=tmp_path)
    assert r.returncode == 0, r.stderr
    header = next(line for line in r.stdout.splitlines() if " id " in f" {line} ")
    assert [w for w in header.replace("┃", " ").replace("|", " ").split()] == \
        ["id", "name", "role", "groups", "created", "revoked"]
    assert "ops-bot" in r.stdout


def _answered(home, sources):
    from ragship.monitor.querylog import Observation, QueryLog
    from ragship.state import State

    state = State(None, home)
    o = Observation("k1", "default", "ask", 10.0, "why?", "answered", answer="because", sources=sources)
    QueryLog(state, "keep").record(o)
    QueryLog(state, "keep").feedback(o.id, "k1", -1)
    state.close()
    return o.id


def test_feedback_list_shows_the_chunk_ids_feedback_add_takes_cited_first(tmp_path):
    shown = [{"doc_id": "a.md", "chunk_id": "a.md#3", "cited": False},
             {"doc_id": "b.md", "chunk_id": "b.md#0", "cited": True},
             *({"doc_id": "c.md", "chunk_id": f"c.md#{n}", "cited": False} for n in range(5))]
    answer = _answered(tmp_path, shown)
    r = cli("feedback", "list", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "sources" in r.stdout and answer in r.stdout
    assert r.stdout.index("b.md#0") < r.stdout.index("a.md#3")  # what it cited first
    assert "+3 more" in r.stdout and "c.md#4" not in r.stdout


def test_feedback_list_refuses_a_rating_and_a_queue_that_contradict(tmp_path):
    r = cli("feedback", "list", "--rating", "down", "--queue", "up", home=tmp_path)
    assert r.returncode == 2
    assert "--rating down and --queue up contradict each other" in r.stderr
    assert cli("feedback", "list", "--rating", "down", "--queue", "down", home=tmp_path).returncode == 0


def test_alerts_without_a_webhook_say_not_delivered_rather_than_none_after_0_attempts(tmp_path):
    from ragship.monitor.alerts import Alerts
    from ragship.monitor.querylog import QueryLog
    from ragship.settings import AlertRule
    from ragship.state import State

    state = State(None, tmp_path)
    rule = AlertRule(name="AbstainRateHigh", signal="abstain_rate", op=">", threshold=0.5, for_s=0, runbook="r")
    Alerts(QueryLog(state)).evaluate("default", [rule], {"abstain_rate": 0.9}, {}, now=1000, deliver=False)
    state.close()
    r = cli("monitor", "alerts", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "not delivered (no webhook configured)" in r.stdout
    assert "attempt(s)" not in r.stdout


def test_incidents_and_drift_resets_from_the_cli_name_the_cli_and_its_login(tmp_path):
    from ragship.monitor.events import Events
    from ragship.monitor.querylog import QueryLog
    from ragship.state import State

    opened = json.loads(cli("incident", "open", "users see old answers", "--json", home=tmp_path,
                            LOGNAME="alice").stdout)
    acked = cli("incident", "ack", opened["id"], home=tmp_path, LOGNAME="alice")
    assert acked.returncode == 0 and "acknowledged by cli (alice)" in acked.stdout
    entries = json.loads(cli("incident", "show", opened["id"], "--json", home=tmp_path).stdout)["entries"]
    assert [e["by"] for e in entries] == ["cli (alice)", "cli (alice)"]
    assert cli("drift", "--reset", home=tmp_path, LOGNAME="alice").returncode == 0
    state = State(None, tmp_path)
    reset = [e for e in Events(QueryLog(state)).between("default", 0, 2e9) if e["kind"] == "drift reset"]
    state.close()
    assert reset[-1]["by"] == "cli (alice)"


def test_incident_open_refuses_a_blank_title_in_one_line(tmp_path):
    """Issue 49: `ragship incident open ""` opened an incident with no title (the API refused it)."""
    for blank in ("", "   "):
        r = cli("incident", "open", blank, home=tmp_path)
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "title is blank" in r.stderr, r.stderr
    assert cli("incident", "list", home=tmp_path).stdout == "no incidents\n"


def test_incident_list_status_is_a_choice_that_names_the_option(tmp_path):
    """Issue 49: `ragship incident list --status bogus` printed "no incidents", exit 0."""
    from ragship.cli.incidents import Status
    from ragship.monitor.incidents import STATUSES

    assert tuple(s.value for s in Status) == STATUSES
    r = cli("incident", "list", "--status", "bogus", home=tmp_path)
    assert r.returncode == 2 and "'--status'" in r.stderr and "'open', 'acknowledged', 'resolved'" in r.stderr
    opened = json.loads(cli("incident", "open", "answers are stale", "--json", home=tmp_path).stdout)
    assert opened["id"] in cli("incident", "list", "--status", "open", home=tmp_path).stdout
    assert cli("incident", "list", "--status", "resolved", home=tmp_path).stdout == "no incidents\n"


def test_a_report_or_save_path_in_no_folder_is_refused_before_any_work(tmp_path):
    """Issue 49: an --out, --report or --save path that cannot be written was a traceback (after an evaluation's
    whole run, for --report); now one line naming it, before the work."""
    home = tmp_path / "home"
    for args in (("eval", DATA / "beir-mini", "--report", tmp_path / "no" / "r.md"),
                 ("chat", "--save", tmp_path / "no" / "c.json")):
        r = cli(*args, home=home)
        assert r.returncode == 2 and r.stderr == f"error: cannot write {args[-1]}: there is no folder " \
            f"{tmp_path / 'no'}; create it or give a path in a folder that exists\n", r.stderr
    assert not home.exists()  # nothing ingested, no session started



def test_a_folder_or_settings_file_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    """Issue 49: `ragship monitor export` to a folder it could not write was a traceback (NotADirectoryError,
    FileExistsError, PermissionError); so was `dataset export`, and `tune`/`adapt --write` failed so only after
    their whole run. Now one line naming the path and what to do, before any work."""
    from pathlib import Path

    home, afile = tmp_path / "home", tmp_path / "afile"
    afile.write_text("not a folder")
    for args, why in ((("monitor", "export", afile / "sub"), f"{afile} is a file, not a folder"),
                      (("monitor", "export", afile), "it is a file"),
                      (("dataset", "export", afile / "sub"), f"{afile} is a file, not a folder")):
        r = cli(*args, home=home)
        assert (r.returncode, r.stdout) == (2, "") and "Traceback" not in r.stderr
        assert r.stderr == f"error: cannot write {args[-1]}: {why}; give a folder you may write to\n", r.stderr
    with mock.patch("ragship.cli.files.os.access", return_value=False):  # root may write anywhere: as a user
        r = cli("monitor", "export", tmp_path / "rules", home=home)
    assert r.returncode == 2 and r.stderr == \
        f"error: cannot write {tmp_path / 'rules'}: you may not write to {tmp_path}; give a folder you may write to\n"
    denied = PermissionError(13, "Permission denied", str(tmp_path / "rules"))
    with mock.patch.object(Path, "mkdir", side_effect=denied):  # refused after the check (a race, an ACL)
        r = cli("monitor", "export", tmp_path / "rules", home=home)
    assert r.returncode == 2 and r.stderr == \
        f"error: cannot write {tmp_path / 'rules'}: Permission denied; give a folder you may write to\n"
    r = cli("tune", DATA / "beir-mini", home=home, RAGSHIP_CONFIG=str(afile / "ragship.toml"))
    assert r.returncode == 2 and r.stderr.startswith(f"error: cannot write the settings file {afile / 'ragship.toml'}"
                                                     f": {afile} is not a folder you may write to; ") and \
        r.stderr.count("\n") == 1
    assert not home.exists()  # refused before any work
    written = cli("monitor", "export", tmp_path / "new" / "rules", home=home)
    assert written.returncode == 0 and sorted(p.name for p in (tmp_path / "new" / "rules").iterdir()) == [
        "grafana-dashboard.json", "ragship-rules.yml"]

def test_promote_without_golden_sets_is_one_line_saying_what_to_do(tmp_path, cache_dir):
    """Issue 49: the gate's "needs golden sets" is the caller's situation (the API's 409), not a server fault."""
    import shutil

    from conftest import make_engine

    corpus = tmp_path / "docs"
    shutil.copytree(DATA / "docs", corpus)
    engine = make_engine(tmp_path / "home", cache_dir, release={"auto_promote": "never"})
    engine.ingest([corpus])
    (corpus / "new.md").write_text("# Ferries\n\nThe night ferry leaves at eleven.\n")
    assert engine.ingest([corpus]).version == "v2"
    r = cli("promote", "v2", home=tmp_path / "home")
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert r.stderr.startswith("error: the gate needs golden sets: add [[release.golden]]") and "--force" in r.stderr
