"""What no single key can make ragship learn (issue 48): labels count only on what an answer showed, a review is
an editor's and outranks ratings, a key votes once per answer and counts once per question, raters who disagree
are held back, no key's ratings supply more than improve.max_key_share of a set, and a key's labels lie on one side
of the held-out split. Each test failed on the code before issue 48."""

from collections import Counter

import pytest

from ragship.access import KeyStore
from ragship.learn.datasets import Datasets, held_out
from ragship.learn.labels import collect, limit_keys, qid_of, sources
from ragship.learn.runs import Runs, triggers
from ragship.monitor.querylog import Observation, QueryLog
from ragship.settings import load_settings
from ragship.state import State

SHOWN = [{"doc_id": "deploy.md", "chunk_id": "deploy.md#0", "cited": True},
         {"doc_id": "oncall.md", "chunk_id": "oncall.md#0", "cited": False}]


@pytest.fixture
def log(tmp_path):
    state = State(None, tmp_path / "home")
    state.ensure_schema()
    return QueryLog(state, "keep")


def key(log, role: str) -> str:
    """A key of `role` in the store: its id."""
    return KeyStore(log.state).create(role, [], role)[1].id


def asked(log, question: str, by: str = "asker", outcome: str = "answered", sources=SHOWN) -> str:
    return log.record(Observation(by, "default", "ask", 1.0, question, outcome, version="v1", answer="An answer.",
                                  sources=sources))


def test_a_mark_counts_only_on_a_source_the_answer_showed(log):
    reader = key(log, "reader")
    answer = asked(log, "When do deployments happen?")
    log.feedback(answer, reader, 1, marks={"cafeteria.md#0": "helpful", "oncall.md#0": "helpful",
                                           "finance/q3.md": "helpful", "deploy.md#0": "helpful"})
    dropped = Counter()
    [item] = collect(log, "default", dropped=dropped)
    # a string, a document the answer never showed, or one it retrieved but did not cite (the asker never saw it:
    # the stop-55 attack) is no label
    assert item.relevant == {"deploy.md": 1}
    assert dropped["a mark on a source the answer did not show"] == 3


def test_expected_and_corrections_are_an_editors_review_and_outrank_ratings(log):
    reader, editor = key(log, "reader"), key(log, "editor")
    first = asked(log, "How long is the on-call shift?")
    log.feedback(first, editor, 0, expected="answer", correction="One week.")
    for n in range(5):  # later readers say otherwise, with a review's fields too
        again = asked(log, "How long is the on-call shift?", by=f"r{n}")
        log.feedback(again, key(log, "reader"), -1, expected="abstain", correction="It is not said.")
    log.feedback(asked(log, "Who pays for lunch?"), reader, 1, expected="abstain")
    dropped = Counter()
    items = {i.question: i for i in collect(log, "default", dropped=dropped)}
    shift = items["How long is the on-call shift?"]
    assert shift.answerable is True and shift.answers == ["One week."]  # the review stands over 5 ratings
    lunch = items["Who pays for lunch?"]
    assert lunch.answerable is True and not any(x.expected for x in lunch.labels)  # rated up and answered
    assert dropped["expected or a correction from a reader (a review is an editor's)"] == 6


def test_a_key_votes_once_per_answer_and_counts_once_per_question(log):
    reader = key(log, "reader")
    answer = asked(log, "When do deployments happen?")
    for _ in range(105):  # a flood on one answer
        log.feedback(answer, reader, 1, marks={"deploy.md#0": "helpful"})
    for _ in range(3):  # the same question asked again, rated again
        log.feedback(asked(log, "when do  deployments happen?"), reader, 1, marks={"deploy.md#0": "helpful"})
    log.feedback(answer, reader, -1)  # the latest vote replaces the earlier ones
    dropped = Counter()
    [item] = collect(log, "default", dropped=dropped)
    assert len(item.labels) == 1 and item.labels[0].rating == -1 and item.not_relevant == ["deploy.md"]
    runs = Runs(log, "default")
    settings = load_settings(home=log.state.home, improve={"new_labels": 2})
    assert triggers(runs, settings, _Registry()) == []  # 109 rows on one question: one new label, not a trigger


def test_questions_whose_raters_disagree_are_held_back_until_reviewed(log):
    up, down, editor = key(log, "reader"), key(log, "reader"), key(log, "editor")
    # an abstention confirmed (unanswerable) and one rated down (answerable)
    log.feedback(asked(log, "Is the cafeteria open on Sunday?", outcome="abstained"), up, 1)
    log.feedback(asked(log, "Is the cafeteria open on Sunday?", outcome="abstained"), down, -1)
    dropped = Counter()
    assert collect(log, "default", dropped=dropped) == []
    assert dropped["a question whose raters disagree (held back until an editor reviews it)"] == 1
    log.feedback(asked(log, "Is the cafeteria open on Sunday?"), editor, 0, expected="abstain")
    [item] = collect(log, "default")
    assert item.answerable is False


def test_a_thumb_alone_names_no_relevant_document(log):
    """Finding 7: an up-vote made the first cited document the positive, often not the relevant one."""
    log.feedback(asked(log, "When do deployments happen?"), key(log, "admin"), 1)
    [item] = collect(log, "default")
    assert item.relevant == {} and item.answerable is True and item.answers == ["An answer."]


def test_no_key_supplies_more_than_its_share_and_its_labels_lie_on_one_side(log, tmp_path):
    attacker = key(log, "reader")
    for n in range(80):  # one key, 80 paraphrases, each rated up with the same page marked helpful
        log.feedback(asked(log, f"When do deployments happen, take {n}?"), attacker, 1,
                     marks={"oncall.md#0": "helpful"})
    for n in range(20):  # twenty other users, a question each
        log.feedback(asked(log, f"Question {n} of another user"), key(log, "reader"), 1,
                     marks={"deploy.md#0": "helpful"})
    editor = key(log, "editor")
    for n in range(15):  # an editor's reviews are not capped
        log.feedback(asked(log, f"Reviewed question {n}"), editor, 0, marks={"deploy.md#0": "helpful"})
    dropped = Counter()
    items = collect(log, "default", dropped=dropped)
    kept, capped = limit_keys(items, 0.1)
    mine = [i for i in kept if attacker in i.raters()]
    # 10 % of what is kept: 11 of 115, then 4 of 46, then 3 of 39 and of 38 (not 11 of the flood's own 115)
    assert len(items) == 115 and len(mine) == 3 and len(kept) == 38 and capped == {attacker: 77}
    assert sum(editor in {x.by for x in i.labels} for i in kept) == 15
    assert len({held_out(i) for i in mine}) == 1  # all on one side: its labels never confirm its own training
    seen = sources(kept, dropped, capped, 0.1)
    assert seen["keys"][attacker] == {"role": "reader", "questions": 3, "labels": 3, "reviews": 0, "capped": 77}
    assert seen["keys"][editor]["reviews"] == 15 and seen["reviews"] == 15
    assert seen["dropped"]["over one key's share (improve.max_key_share = 0.1, max_review_share = 1)"] == 77
    labeled, _ = Datasets(tmp_path / "sets").build(kept, "default", seen)
    assert labeled.manifest["sources"]["keys"][attacker]["capped"] == 77
    assert {qid_of(i.question) for i in labeled.items()} == {i.qid for i in kept}


class _Registry:
    """No versions: the corpus-change trigger has nothing to compare."""

    def all(self):
        return []


def test_a_model_is_adapted_only_when_something_can_gate_it(tmp_path):
    """One key's questions all lie on one side: on the training side, nothing held out can gate what they teach,
    so the run does not train for a refusal (the single-key replay's case); a golden set can gate it."""
    from ragship.learn.datasets import heldout
    from ragship.learn.improve import plan
    from ragship.learn.labels import Item, Label

    rater = next(k for k in (f"k{n}" for n in range(50)) if not heldout("key:" + k))
    items = [Item(qid_of(f"q {n}"), f"q {n}", {"d1": 1}, [], True, [], [Label(f"a{n}", rater, n, "v1", 1, "answered",
                                                                              {"d1": "helpful"})])
             for n in range(30)]
    labeled, _ = Datasets(tmp_path / "sets").build(items, "default")
    assert labeled.manifest["splits"]["train"]["judged"] == 30
    settings = load_settings(home=tmp_path, improve={"min_judged": 1, "min_heldout": 1})
    planned = plan(labeled, settings)
    assert not planned["adapt"] and "nothing could gate an adapted model" in planned["not_adapted"]
    golden = load_settings(home=tmp_path, improve={"min_judged": 1}, release={"golden": [{"path": str(tmp_path)}]})
    assert plan(labeled, golden)["adapt"]


def test_an_editors_labels_on_its_own_answers_are_ratings_capped_like_any_key(log):
    """The trial's attacker held an editor key: marks and `expected` on its own 50 answers counted as reviews,
    escaped the cap and, split by question, labeled both sides of the gate that promoted its model."""
    editor, other = key(log, "editor"), key(log, "editor")
    for n in range(50):
        answer = asked(log, f"When do deployments happen, take {n}?", by=editor)
        log.feedback(answer, editor, 1, marks={"oncall.md#0": "helpful"}, expected="answer")
    log.feedback(asked(log, "Who reviews this?", by="someone"), other, 0, marks={"deploy.md#0": "helpful"})
    items = collect(log, "default")
    own = [i for i in items if editor in {x.by for x in i.labels}]
    assert len(own) == 50 and not any(i.reviewed_by_editor() for i in own) and {editor} == set(own[0].raters())
    assert len({held_out(i) for i in own}) == 1  # one key: one side
    kept, capped = limit_keys(items, 0.1)
    assert capped == {editor: 50} and [i.question for i in kept] == ["Who reviews this?"]  # a review of another's
    roles = {x.by: x.role for i in items for x in i.labels}
    assert sources(kept, Counter(), capped, 0.1, roles)["keys"][editor]["role"] == "editor"  # though none was kept


def test_one_editors_reviews_supply_at_most_their_share_and_lie_on_one_side(log):
    """The stop-55 attack: an editor reviewed 61 unrated questions a reader of its group asked (marks, expected,
    corrections), varying the wording until a dozen fell on the held-out side (placed by the question's words): 90 %
    of the set, uncapped, on both sides of the gate that promoted its model."""
    editor, reader = key(log, "editor"), key(log, "reader")
    for n in range(61):
        log.feedback(asked(log, f"Who gets paged on call (case {n})?", by=reader), editor, 0,
                     marks={"deploy.md#0": "helpful", "oncall.md#0": "wrong"}, expected="answer")
    for n in range(7):
        log.feedback(asked(log, f"Question {n} of another user"), key(log, "reader"), 1,
                     marks={"deploy.md#0": "helpful"})
    items = collect(log, "default")
    reviewed = [i for i in items if i.reviewed_by_editor()]
    assert len(reviewed) == 61 and len({held_out(i) for i in reviewed}) == 1  # one reviewer: one side
    kept, capped = limit_keys(items, 0.1, 0.5)
    assert sum(i.reviewed_by_editor() for i in kept) == 7 and len(kept) == 14 and capped == {editor: 54}
    assert limit_keys(items, 0.1)[1] == {}  # reviews without a cap of their own: all 61 kept
