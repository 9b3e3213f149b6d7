"""The labeled set's versions and BEIR folders, from hand-made items."""

from ragship.evaluate.answers import load_questions
from ragship.evaluate.beir import load_dataset
from ragship.learn.datasets import Datasets, held_out
from ragship.learn.labels import Item, Label, qid_of


def item(question, relevant=(), answerable=None, answers=()):
    label = Label("a-" + question, "k-" + question, 1.0, "v1", 1, "answered")  # a rater of its own
    return Item(qid_of(question), question, {d: 1 for d in relevant}, [], answerable, list(answers), [label])


def test_a_judged_question_rated_unanswerable_stays_a_query_of_its_side(tmp_path):
    """The first SciFact replay failed here: a question with a relevant document whose answer was rated down
    (so not answerable) was in the qrels but not in queries.jsonl, and the gate could not load the set."""
    items = [item(f"question {n}", ["d1"], answerable=n % 2 == 0, answers=["x"] if n % 2 == 0 else [])
             for n in range(40)]
    labeled, _ = Datasets(tmp_path).build(items, "default")
    for side in ("train", "heldout"):
        data = load_dataset(labeled.split(side), "test", corpus=False)
        assert len(data.queries) == sum((side == "heldout") == held_out(i) for i in items)
        questions = load_questions(data)
        assert len({q.id for q in questions}) == len(questions)  # no question both answerable and not


def test_versions_are_appended_and_never_rewritten(tmp_path):
    datasets = Datasets(tmp_path)
    first, _ = datasets.build([item("a", ["d1"])], "default")
    second, new = datasets.build([item("a", ["d1"]), item("b", ["d2"])], "default")
    assert new and (first.number, second.number) == (1, 2) and len(datasets.get(1).items()) == 1
    assert [v.number for v in datasets.versions()] == [1, 2] and datasets.latest().number == 2


def test_one_count_of_unanswerable_questions_in_the_plan_the_set_its_files_and_the_gate(tmp_path):
    """Issue 49, finding 7: the plan said 8 unanswerable, `dataset show` 6 on the training side, labels.jsonl 11: a
    question both judged (a source marked helpful) and unanswerable counted in some and not in others."""
    from ragship.evaluate.beir import read_queries
    from ragship.learn.improve import plan
    from ragship.settings import load_settings

    items = ([item(f"no {n}", ["d1"] if n % 3 == 0 else [], answerable=False) for n in range(30)]
             + [item(f"yes {n}", ["d1"], answerable=True, answers=["x"]) for n in range(30)])
    labeled, _ = Datasets(tmp_path).build(items, "default")
    train = labeled.items("train")
    in_file = read_queries(labeled.split("train") / "queries_unanswerable.jsonl")
    planned = plan(labeled, load_settings(home=tmp_path / "home"))
    assert planned["unanswerable"] == labeled.manifest["splits"]["train"]["unanswerable"] == len(in_file) == sum(
        i.answerable is False for i in train)
    assert sum(s["unanswerable"] for s in labeled.manifest["splits"].values()) == 30  # both sides: labels.jsonl's
    gate = load_questions(load_dataset(labeled.split("train"), "test", corpus=False))
    assert {q.id for q in gate if not q.answerable} == set(in_file)  # judged or not, read as unanswerable once


def test_a_plan_without_unsupervised_learning_needs_no_new_documents(tmp_path):
    """Issue 49, finding 7: `needs.new_documents` was listed with improve.unsupervised off."""
    from ragship.learn.improve import plan
    from ragship.settings import load_settings

    labeled, _ = Datasets(tmp_path).build([item("a", ["d1"], answerable=True)], "default")
    assert "new_documents" not in plan(labeled, load_settings(home=tmp_path / "home"))["needs"]
    on = load_settings(home=tmp_path / "home", improve={"unsupervised": True})
    assert plan(labeled, on)["needs"]["new_documents"] == on.improve.min_new_documents
