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
