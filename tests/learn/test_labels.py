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
    # answered and rated down (reviewed first by editors): 2 alone, 10 reviewed, 5 contradicted (this kind: 1 in 2)
    up = _rated(6, 1, "answered") + _rated(10, 1, "answered", "answer")
    down = _rated(2, -1, "answered") + _rated(5, -1, "answered", "abstain") + _rated(5, -1, "answered", "answer")
    rate, reviews = rating_noise(up + down)
    assert reviews == 20 and rate == (6 * 0.0 + 2 * 0.5) / 8  # not 5 in 20: the down-rated were reviewed more
    assert [reviewed(i) for i in up + down].count(True) == 20
    # with a kind reviewed too few times to weigh (9), the share of all reviews
    assert rating_noise(up[:-1] + down) == (5 / 19, 19)


def test_rating_noise_without_reviews_is_not_measured():
    from ragship.learn.labels import rating_noise

    assert rating_noise(_rated(5, 1, "answered") + _rated(5, -1, "abstained")) == (0.0, 0)
