"""`ragship eval --conversations`: tasks read from conversations.jsonl, retrieval beside its two baselines, answers
counted by what they did, per answerability class and kind."""


import pytest

from conftest import DATA, make_engine
from ragship.errors import DatasetError
from ragship.evaluate.conversations import (answer_outcomes, evaluate_conversations, last_two_joined, last_turn,
                                            load_tasks, markdown_report)

MINI = DATA / "conversations-mini"


def test_tasks_are_read_with_their_class_and_kind():
    tasks = load_tasks(MINI)
    assert [t.answerability for t in tasks] == ["ANSWERABLE", "ANSWERABLE", "ANSWERABLE", "UNANSWERABLE",
                                                "UNDERSPECIFIED"]
    olympics = tasks[0]
    assert olympics.kind == "Follow-up" and olympics.asked == ["what was the 1980 summer olympics boycott",
                                                               "and when did it end?"]
    assert last_turn(olympics).query == "and when did it end?" and last_turn(olympics).context == ()
    assert last_two_joined(olympics).query == "what was the 1980 summer olympics boycott and when did it end?"


@pytest.mark.parametrize("line, message", [
    ('{"_id": "a"}', "expected"),
    ('{"_id": "a", "messages": [{"role": "assistant", "content": "hi"}]}', "no user message"),
    ("not json", "expected"),
])
def test_malformed_tasks_name_their_line(tmp_path, line, message):
    (tmp_path / "conversations.jsonl").write_text('\n' + line + "\n")
    with pytest.raises(DatasetError, match=f"conversations.jsonl:2: .*{message}"):
        load_tasks(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_tasks(tmp_path / "none")


def test_outcomes_are_shares_of_each_class_and_kind():
    tasks = load_tasks(MINI)
    said = {"olympics<::>2": ("answer", False), "dada<::>2": ("", True), "lister<::>1": ("", False),
            "dada<::>3": ("clarify", True), "kestrel<::>1": ("clarify", True)}
    result = answer_outcomes(tasks, lambda t: {"outcome": said[t.id][0], "abstained": said[t.id][1],
                                               "answer": t.reference if t.id == "lister<::>1" else "x"})
    assert result["by_class"]["ANSWERABLE"] == {"tasks": 3, "answer": 0.6667, "abstain": 0.3333, "clarify": 0.0}
    assert result["by_class"]["UNANSWERABLE"]["clarify"] == 1.0 and result["by_kind"]["N/A"]["tasks"] == 2
    assert result["expected"] == {"ANSWERABLE (answer)": 0.6667, "UNANSWERABLE (abstain)": 0.0,
                                  "UNDERSPECIFIED (clarify)": 1.0, "UNANSWERABLE (not answered)": 1.0}
    assert result["answer_f1"] == 0.5  # "x" scores 0, lister's reference 1


def test_the_conversation_finds_what_the_last_turn_alone_misses(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    result = evaluate_conversations(engine, MINI, answers=False)
    ways = result["retrieval"]
    assert set(ways) == {"conversation", "last turn", "last two turns joined"} and result["tasks"] == 5
    assert ways["conversation"]["metrics"]["ndcg@10"] > ways["last turn"]["metrics"]["ndcg@10"]
    assert ways["conversation"]["per_task"]["dada<::>2"] == 1.0 > ways["last turn"]["per_task"]["dada<::>2"]
    assert ways["conversation"]["ndcg@10_by_kind"]["Follow-up"]["tasks"] == 2
    assert result["conversation"] == {"turn_decay": 0.5, "turns": 4} and "answers" not in result
    report = markdown_report(result)
    assert "| conversation | 3 |" in report and "| last two turns joined | 3 |" in report
