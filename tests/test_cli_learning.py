"""Issue 49, findings 6 and 11, at the command line: `feedback list --status`, `feedback export` (CSV and
--json), `history --json` and `gaps --json`."""

import csv
import io
import json

from ragship.access import KeyStore
from ragship.monitor.querylog import Observation, QueryLog
from ragship.state import State
from test_cli import cli


def _log(home):
    """A reader key "rita" asked twice (answered, rated down with a comment; abstained); the CLI reviewed the
    first."""
    state = State(None, home)
    rita = KeyStore(state).create("reader", [], "rita")[1].id
    log = QueryLog(state, "keep")
    answered = Observation(rita, "default", "ask", 10.0, "When does the night tram run?", "answered",
                           answer="At nine.", sources=[{"doc_id": "a.md", "chunk_id": "a.md#0", "cited": True}])
    abstained = Observation(rita, "default", "ask", 10.0, "Is the harbour tram free?", "abstained")
    for o in (answered, abstained):
        log.record(o)
    log.feedback(answered.id, rita, -1, "it runs at ten")
    log.feedback(answered.id, "cli", 0, marks={"a.md#0": "wrong"}, expected="answer", correction="At ten.")
    state.close()
    return rita, answered.id


def test_feedback_list_by_review_status_and_the_export_with_who_asked(tmp_path):
    rita, answer = _log(tmp_path)
    assert answer not in cli("feedback", "list", "--queue", "down", home=tmp_path).stdout
    r = cli("feedback", "list", "--queue", "down", "--status", "reviewed", "--json", home=tmp_path)
    row = json.loads(r.stdout)[0]
    assert row["asked_by_name"] == f'key "rita" ({rita})' and row["review"]["correction"] == "At ten."
    table = list(csv.DictReader(io.StringIO(cli("feedback", "export", home=tmp_path).stdout)))
    assert [(t["asked_by"], t["rated_by"], t["rating"], t["comment"]) for t in table] == [
        (f'key "rita" ({rita})', f'key "rita" ({rita})', "down", "it runs at ten"),
        (f'key "rita" ({rita})', "cli", "", "")]
    exported = json.loads(cli("feedback", "export", "--json", home=tmp_path).stdout)
    assert exported[1]["correction"] == "At ten." and exported[1]["marks"] == {"a.md#0": "wrong"}
    assert cli("feedback", "export", "--days", "0", home=tmp_path).returncode == 2  # not "everything"
    cli("feedback", "export", "--out", tmp_path / "out.csv", home=tmp_path)
    assert (tmp_path / "out.csv").read_text().startswith("answer_id,asked_at,asked_by,question")


def test_history_and_gaps_as_json(tmp_path):
    rita, answer = _log(tmp_path)
    asked = json.loads(cli("history", "--key", rita, "--json", home=tmp_path).stdout)
    assert [(q["question"], q["outcome"], q["rating"]) for q in asked] == [
        ("Is the harbour tram free?", "abstained", None), ("When does the night tram run?", "answered", "down")]
    assert json.loads(cli("history", "--key", "rita", "--json", home=tmp_path).stdout) == asked  # by its name
    unknown = cli("history", "--key", "nobody", "--json", home=tmp_path)
    assert unknown.returncode == 2
    assert "'nobody' is no key's id" in unknown.stderr and "ragship keys list" in unknown.stderr
    report = json.loads(cli("gaps", "--json", home=tmp_path).stdout)
    assert report["open"] == 2 and {q["question"] for t in report["topics"] for q in t["questions"]} == {
        "Is the harbour tram free?", "When does the night tram run?"}
    text = cli("gaps", home=tmp_path).stdout
    assert "2 open and 0 closed" in text and "1 × rated down" in text


def test_an_out_path_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    """Issue 49: `feedback export --out /nonexistent/dir/f.csv` printed a traceback."""
    from unittest import mock

    _log(tmp_path)
    for dest, why in ((tmp_path / "no" / "such" / "f.csv", f"there is no folder {tmp_path / 'no' / 'such'}"),
                      (tmp_path, "it is a folder")):
        r = cli("feedback", "export", "--out", dest, home=tmp_path)
        assert r.returncode == 2 and r.stderr == f"error: cannot write {dest}: {why}; " + r.stderr.split("; ", 1)[1]
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and r.stdout == ""
    denied = PermissionError(13, "Permission denied")
    with mock.patch("ragship.cli.files.atomic_write_text", side_effect=denied):
        r = cli("feedback", "export", "--out", tmp_path / "f.csv", home=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(f"error: cannot write {tmp_path / 'f.csv'}: Permission denied; ")
    assert r.stderr.count("\n") == 1
