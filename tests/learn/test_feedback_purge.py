"""`ragship feedback purge --key ID`: a flooding key's ratings and reviews go, in every collection, the other keys'
stay; a key with none is one clear error (exit 2 from `main`)."""

import json

from sqlalchemy import text
from typer.testing import CliRunner

from ragship.cli import app
from ragship.errors import InputError
from ragship.monitor.querylog import Observation, QueryLog
from ragship.state import State


def test_the_cli_purges_exactly_one_keys_feedback_and_says_how_much(tmp_path):
    home = tmp_path / "home"
    log = QueryLog(State(None, home), "keep")
    for i in range(3):
        rid = log.record(Observation("k1", "default" if i else "other", "ask", 5.0, f"question {i}", "answered"))
        log.feedback(rid, "flood", 1, "")
        log.feedback(rid, "flood", -1, "")
        log.feedback(rid, "k2", 1, "")

    def run(*args):
        return CliRunner().invoke(app, ["--home", str(home), *args])

    purged = run("feedback", "purge", "--key", "flood")
    assert purged.exit_code == 0, purged.output
    assert "removed 6 feedback rows of key flood" in purged.output
    assert log.state.rows(text("SELECT key_id FROM ragship_feedback")) == [("k2",)] * 3

    again = run("feedback", "purge", "--key", "flood")
    assert isinstance(again.exception, InputError) and "no feedback from key 'flood'" in str(again.exception)
    assert json.loads(run("feedback", "purge", "--key", "k2", "--json").stdout) == {"key_id": "k2", "purged": 3}
