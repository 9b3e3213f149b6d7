import os
import subprocess
import sys

# One rated-down answer that cited twenty documents: each becomes a "not relevant" judgement of its question.
DOWN_RATED = """
from ragship.learn.labels import Item, Label, _apply
item = Item("q1", "a question")
_apply(item, Label("a1", "local", 0.0, "v1", -1, "answered", {}, None, None), [f"d{i}" for i in range(20)], None)
print(item.not_relevant)
"""


def test_a_questions_judgements_keep_one_order_in_every_process():
    # the order picks a training pair's negative: the same labels must make the same pairs (and model) in any run
    seen = {subprocess.run([sys.executable, "-c", DOWN_RATED], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                           capture_output=True, text=True, check=True).stdout for seed in (1, 2, 3)}
    assert len(seen) == 1


def _rated(n: int, rating: int, outcome: str, review: str | None = None) -> list:
    """`n` questions rated `rating` on an answer with `outcome`, each reviewed by an editor as `review` when given."""
    from ragship.learn.labels import Item, Label

    items = []
    for k in range(n):
        item = Item(f"q{rating}{outcome}{review}{k}", "a question")
        item.labels.append(Label(f"a{k}", "user", 1.0, "v1", rating, outcome))
        if review:
            item.labels.append(Label(f"a{k}", "editor", 2.0, "v1", 0, outcome, expected=review))
        items.append(item)
    return items


def test_rating_noise_is_measured_per_kind_of_rating_and_weighted_by_what_reviews_did_not_settle():
    from ragship.learn.labels import rating_noise, reviewed

    # answered and rated up: 6 questions by ratings alone, 10 reviewed, none contradicted (this kind: 0 wrong);
    # abstained and rated down (reviewed first by editors): 2 alone, 10 reviewed, 5 contradicted (this kind: 1 in 2)
    up = _rated(6, 1, "answered") + _rated(10, 1, "answered", "answer")
    down = _rated(2, -1, "abstained") + _rated(5, -1, "abstained", "abstain") + _rated(5, -1, "abstained", "answer")
    rate, reviews = rating_noise(up + down)
    assert reviews == 20 and rate == (6 * 0.0 + 2 * 0.5) / 8  # not 5 in 20: the down-rated were reviewed more
    assert [reviewed(i) for i in up + down].count(True) == 20
    # with a kind reviewed too few times to weigh (9), the share of all reviews
    assert rating_noise(up[:-1] + down) == (5 / 19, 19)


def test_rating_noise_without_reviews_is_not_measured():
    from ragship.learn.labels import rating_noise

    assert rating_noise(_rated(5, 1, "answered") + _rated(5, -1, "abstained")) == (0.0, 0)


def test_a_down_vote_on_an_answer_is_no_unanswerable_label():
    """Issue 49, finding 7: users down-vote incomplete answers too; only a confirmed abstention (an up-vote on it)
    or a review says a question is unanswerable. A down-vote still marks the answer's cited documents."""
    from ragship.learn.labels import Item, Label, _apply

    def labeled(*labels: Label) -> Item:
        item = Item("q", "a question")
        for label in labels:
            _apply(item, label, ["d1"], "An answer. [1]")
        return item

    down = labeled(Label("a", "user", 1.0, "v1", -1, "answered"))
    assert down.answerable is None and down.not_relevant == ["d1"]
    assert labeled(Label("a", "user", 1.0, "v1", 1, "abstained")).answerable is False  # the abstention confirmed
    assert labeled(Label("a", "user", 1.0, "v1", -1, "abstained")).answerable is True
    reviewed = labeled(Label("a", "user", 1.0, "v1", -1, "answered"),
                       Label("a", "editor", 2.0, "v1", 0, "answered", expected="abstain"))
    assert reviewed.answerable is False


def test_an_abstention_rated_up_with_a_source_marked_helpful_is_answerable():
    """Stop 55's replay: an abstention whose shown source held the answer, rated up and that source marked
    helpful, was labeled unanswerable (16 held-out claims, the relevant abstract first for 15), and the gate refused a
    model for answering them. The mark says the answer was there; a thumb alone still confirms the abstention."""
    from ragship.learn.labels import Item, Label, _apply

    item = Item("q", "a question")
    _apply(item, Label("a", "user", 1.0, "v1", 1, "abstained", marks={"d1": "helpful"}), ["d1"], None)
    assert item.answerable is True and item.relevant == {"d1": 1}
    opened = Item("q", "a question")
    _apply(opened, Label("a", "user", 1.0, "v1", 1, "abstained", marks={"d1": "opened"}), ["d1"], None)
    assert opened.answerable is False  # a click is no judgement of the answer
