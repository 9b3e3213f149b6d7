"""One way to name who did something (issue 49, finding 8): a key by its name and id, a person at the command line
by their login, said as such, and ragship by what acted."""

from ragship.util import actor


def test_a_key_is_named_by_its_name_and_id():
    assert actor.key("b54ec389", "ops-bot") == 'key "ops-bot" (b54ec389)'
    assert actor.key("b54ec389") == "key b54ec389"  # a key created without --name


def test_the_cli_is_said_as_such_with_the_login_running_it(monkeypatch):
    monkeypatch.setenv("LOGNAME", "alice")
    assert actor.cli() == "cli (alice)"
    assert actor.cli("bob") == "cli (bob)"


def test_ragship_itself_is_named_by_what_acted():
    assert actor.automatic("ingest", "auto-promote") == "ingest (auto-promote)"
    assert actor.improve_run("3f2a") == "improve run 3f2a"
    assert actor.automatic(actor.SCHEDULER) == "scheduler"
