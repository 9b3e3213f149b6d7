"""`ragship chat`: questions typed one after another (stdin fed here), each answered in the conversation so far."""

import io
import json
import sys
from unittest import mock

import pytest

from conftest import DATA
from test_cli import cli

# four short articles: a follow-up that names none of them must be answered from the one the first question was about
ARTICLES = {
    "boycott.md": "# Montgomery bus boycott\n\nThe Montgomery bus boycott was a political and social protest "
                  "campaign against racial segregation on the public transit system of Montgomery, Alabama. "
                  "It began on December 5, 1955, after Rosa Parks was arrested for refusing to give up her seat. "
                  "The Montgomery bus boycott lasted 381 days and ended on December 20, 1956.\n",
    "surgeon.md": "# Joseph Lister\n\nJoseph Lister was a British surgeon and a pioneer of antiseptic surgery. "
                  "He used carbolic acid to sterilise surgical instruments and to clean wounds, which lowered the "
                  "rate of infection after operations. Joseph Lister was born in 1827 and died in 1912 at Walmer, "
                  "Kent.\n",
    "football.md": "# American football\n\nAmerican football is a team sport played by two teams of eleven players "
                   "on a rectangular field with goalposts at each end. The offense advances an oval ball by running "
                   "or passing. The National Football League season runs from September and its championship game, "
                   "the Super Bowl, is played in February.\n",
    "bridge.md": "# Golden Gate Bridge\n\nThe Golden Gate Bridge is a suspension bridge spanning the strait between "
                 "San Francisco Bay and the Pacific Ocean. Construction began in January 1933 and the bridge opened "
                 "to traffic in May 1937.\n",
}


def chat(*args, home, typed: str):
    """`ragship chat ARGS` with `typed` as what the user types (stdin; its end is Ctrl-D)."""
    with mock.patch.object(sys, "stdin", io.StringIO(typed)):
        return cli("chat", *args, home=home)


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text)
    home = tmp_path / "home"
    assert cli("ingest", folder, home=home).returncode == 0
    return home


def test_a_follow_up_is_answered_from_the_document_the_first_question_was_about(home, tmp_path):
    saved = tmp_path / "chat.json"
    run = chat("--save", saved, home=home, typed="What was the Montgomery bus boycott?\nand when did it end?\n")
    assert run.returncode == 0, run.stderr
    messages = json.loads(saved.read_text())
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2]["content"] == "and when did it end?"
    assert "December 20, 1956" in messages[3]["content"]  # the boycott's end, not the surgeon's death (1912)
    shown = " ".join(run.stdout.split())
    assert "searched: and when did it end?; with What was the Montgomery bus boycott? (×0.5)" in shown
    assert shown.count("Montgomery bus boycott (articles/boycott.md") == 2  # each answer cites the boycott article
    assert "saved 4 messages" in run.stderr

    alone = json.loads(cli("ask", "and when did it end?", "--json", home=home).stdout)  # the same words, no context
    assert alone["searched"]["context"] == []


def test_new_history_and_quit(home, tmp_path):
    saved = tmp_path / "chat.json"
    typed = "What was the Montgomery bus boycott?\n/history\n/new\n/history\nWho was Joseph Lister?\n/oops\n" \
            "/quit\nnever asked\n"
    run = chat("--save", saved, home=home, typed=typed)
    assert run.returncode == 0, run.stderr
    shown = " ".join(run.stdout.split())
    assert "1. What was the Montgomery bus boycott?" in shown and "new conversation" in shown
    assert "no questions yet in this conversation" in shown
    assert "unknown command /oops" in run.stderr
    messages = json.loads(saved.read_text())  # only the conversation after /new, nothing after /quit
    assert [m["content"] for m in messages if m["role"] == "user"] == ["Who was Joseph Lister?"]
    assert "surgeon" in messages[1]["content"]


def test_a_saved_conversation_is_continued(home, tmp_path):
    earlier, saved = tmp_path / "earlier.json", tmp_path / "later.json"
    earlier.write_text(json.dumps([{"role": "user", "content": "Who was Joseph Lister?"},
                                   {"role": "assistant", "content": "A British surgeon."}]))
    run = chat("--conversation", earlier, "--save", saved, home=home, typed="/history\nwhen did he die?\n")
    assert run.returncode == 0, run.stderr
    assert "1 earlier question(s) loaded" in run.stdout and "1. Who was Joseph Lister?" in run.stdout
    messages = json.loads(saved.read_text())
    assert len(messages) == 4 and "1912" in messages[3]["content"]
    assert "searched: when did he die?; with Who was Joseph Lister? (×0.5)" in " ".join(run.stdout.split())

    earlier.write_text('{"messages": "nope"}')
    bad = chat("--conversation", earlier, home=home, typed="")
    assert bad.returncode == 2 and "expected a list" in bad.stderr


def test_an_error_keeps_the_session_and_a_question_back_is_shown_as_such(tmp_path):
    home = tmp_path / "home"
    assert cli("ingest", DATA / "conversations-mini" / "corpus.jsonl", home=home).returncode == 0
    typed = "x" * 5000 + "\nHow much did the Kestrel cost when it was new?\n"
    run = chat(home=home, typed=typed)
    assert run.returncode == 0 and "error:" in run.stderr and "characters" in run.stderr
    assert "asked back: Which do you mean: " in " ".join(run.stdout.split())


def test_chat_in_a_named_collection(home):
    assert cli("collections", "create", "notes", home=home).returncode == 0
    run = chat(home=home, typed="What was the Montgomery bus boycott?\n")
    assert "Montgomery bus boycott (articles/boycott.md" in " ".join(run.stdout.split())
    with mock.patch.object(sys, "stdin", io.StringIO("What was the Montgomery bus boycott?\n")):
        empty = cli("--collection", "notes", "chat", home=home)
    assert empty.returncode == 5 and "no index" in empty.stderr and "?" not in empty.stdout  # before any prompt
