"""Each table of the state store has one owner module that alone reads and writes it (STYLE.md "Storage", ADR 0024):
a module of src/ragship that names another's table (imports its constant from state/tables.py, or writes SQL that
names it) fails here, naming the module, the table and its owner. The import contract "state-tables-owners" lets
only owners import state/tables.py at all; which table each may use is checked here, where import-linter cannot see
it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ragship.state import tables
from ragship.state.tables import METADATA, OWNERS

SRC = Path(tables.__file__).resolve().parents[1]  # src/ragship
TABLES = "ragship.state.tables"
# the schema's own: the declarations, the Alembic revisions, and the one-time import of a home from before the store
SCHEMA = ("ragship.state.tables", "ragship.state.legacy", "ragship.state.migrations")
NAMES = {getattr(tables, constant).name: constant for constant in OWNERS}  # "ragship_requests" -> "REQUESTS"
SQL = re.compile(r"\b(select|insert|update|delete|from|join|into|table)\b", re.I)
TABLE_NAME = re.compile(r"\b(" + "|".join(sorted(NAMES, key=len, reverse=True)) + r")\b")


def module_name(path: Path) -> str:
    parts = ("ragship", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tables_used(source: str, module: str, package: bool = False) -> set[str]:
    """The table constants (OWNERS' keys) a module's source uses: imported from state/tables.py, read as an
    attribute of that module, or named in an SQL string (docstrings aside); METADATA (every table) as "METADATA"."""
    tree = ast.parse(source)
    here = module.split(".") if package else module.split(".")[:-1]  # what a relative import starts from
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    used: set[str] = set()
    modules = {TABLES}  # the names state/tables.py itself goes by here
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".") if node.level \
                else node.module or ""
            for alias in node.names:
                if base == TABLES:
                    used.add(alias.name)
                elif f"{base}.{alias.name}" == TABLES:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(alias.asname for alias in node.names if alias.name == TABLES and alias.asname)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                and SQL.search(node.value):
            used.update(NAMES[name] for name in TABLE_NAME.findall(node.value))
    used.update(node.attr for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and ast.unparse(node.value) in modules)
    return {name for name in used if name in OWNERS or name == "METADATA"}


def strays(source: str, module: str, package: bool = False) -> list[str]:
    """The tables `module` uses that it does not own, as messages."""
    out = []
    for constant in sorted(tables_used(source, module, package)):
        owner = OWNERS.get(constant)
        if module == owner:
            continue
        mine = "every table (METADATA)" if owner is None else f"{constant} ({getattr(tables, constant).name})"
        out.append(f"{module} uses {mine}, owned by {owner or 'the schema'}: call the owner's methods instead")
    return out


def test_every_module_uses_only_the_tables_it_owns():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        module = module_name(path)
        if not module.startswith(SCHEMA):
            found += strays(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert not found, "\n".join(found)


def test_every_table_has_one_owner_that_uses_it():
    assert {t.name for t in METADATA.sorted_tables} == set(NAMES)  # a new table names its owner in OWNERS
    for constant, owner in OWNERS.items():
        path = SRC.joinpath(*owner.split(".")[1:])
        package = path.is_dir()
        path = path / "__init__.py" if package else path.with_suffix(".py")
        assert constant in tables_used(path.read_text(encoding="utf-8"), owner, package), \
            f"{owner} does not use {constant}"


@pytest.mark.parametrize("source", [
    "from ragship.state.tables import ALERT_STATE\n",
    "from ragship.state.tables import ALERT_STATE as A\n",
    "from ragship.state import tables\nx = tables.ALERT_STATE.c\n",
    "import ragship.state.tables as t\nx = t.ALERT_STATE\n",
    "from sqlalchemy import text\nq = text('SELECT since FROM ragship_alert_state WHERE name = :n')\n",
])
def test_reading_another_modules_table_is_caught(source):
    """The learning loop reading the alerts' state (learn/runs.py did, before issue 50) in each way it could."""
    assert strays(source, "ragship.learn.runs") == [
        "ragship.learn.runs uses ALERT_STATE (ragship_alert_state), owned by ragship.monitor.alerts: call the owner's "
        "methods instead"]


def test_what_is_not_a_table_is_not_caught():
    """A Prometheus counter named like a table, a local name like a constant, the owner's own use."""
    assert strays('FEEDBACK = Counter("ragship_feedback", "Feedback on answers")\nEVENTS = 1\n',
                  "ragship.monitor.metrics") == []
    assert strays("from ragship.state.tables import FEEDBACK, REQUESTS\n", "ragship.monitor.querylog") == []
    assert strays("from .tables import RATE_HITS\n", "ragship.state", package=True) == []
    assert strays('"""Reads from ragship_keys."""\n', "ragship.state", package=True) == []  # a docstring
    assert strays("from .tables import KEYS\n", "ragship.state", package=True) != []
    assert strays("from ..state.tables import KEYS\n", "ragship.learn.review") != []
