"""errors.py's docstring is the map of every error: each class in its tree with its parent and its codes, and
every exit code in README's list, so neither drifts from the classes (issue 50)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import ragship.errors as errors
from ragship.errors import PARTIAL_EXIT, DeletionsHeld, GateRefused, InputError, RagshipError

README = Path(__file__).resolve().parents[1] / "README.md"
CLASSES = {name: c for name, c in vars(errors).items()  # an old name kept loading (an alias) is no class of its own
           if inspect.isclass(c) and issubclass(c, RagshipError) and c.__module__ == errors.__name__
           and c.__name__ == name}


def tree() -> dict[str, tuple[str | None, int, int]]:
    """The docstring's tree: each class name with its parent's, its exit code and its HTTP status."""
    rows, parents = {}, []
    for line in errors.__doc__.splitlines():
        m = re.match(r"^    ([│├└─ ]*)(\w+)\s+(\d+)\s+(\d+)\b", line)
        if not m:
            continue
        depth = len(m[1]) // 4
        parents[depth:] = [m[2]]
        rows[m[2]] = (parents[depth - 1] if depth else None, int(m[3]), int(m[4]))
    return rows


def test_the_tree_names_every_error_with_its_parent_and_codes():
    documented = tree()
    assert sorted(documented) == sorted(CLASSES)
    for name, cls in CLASSES.items():
        parent = cls.__mro__[1].__name__ if cls is not RagshipError else None
        assert documented[name] == (parent, cls.exit_code, cls.http_status), name


def test_readme_lists_every_exit_code():
    text = README.read_text(encoding="utf-8")
    listed = text[text.index("Exit codes:"):].split("\n\n", 1)[0]
    codes = {cls.exit_code for cls in CLASSES.values()} | {0, PARTIAL_EXIT, 130}
    assert {c for c in codes if not re.search(rf"[:;] {c} ", listed)} == set()


def test_the_old_name_of_a_renamed_error_still_loads():
    assert errors.StateCorrupt is errors.HomeFileDamaged  # for one release (ADR 0024)


def test_a_held_release_is_a_policy_outcome_not_bad_input():
    assert not issubclass(DeletionsHeld, InputError)
    assert DeletionsHeld.exit_code == GateRefused.exit_code != InputError.exit_code
