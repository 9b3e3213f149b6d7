"""Property-based tests (Hypothesis): no filter value escapes SQL quoting. Any text as a doc_id, a metadata
value or a group selects, inside a real LanceDB query, exactly the rows equal to it — as the in-memory mask
does — and never a row that differs, whatever quotes, backslashes, brackets or keywords it holds."""

import atexit
import shutil
import tempfile

import lancedb
import pyarrow as pa
from hypothesis import strategies as st
from hypothesis_profiles import both_sizes

from ragship.retrieve.filters import Filter

NASTY = st.sampled_from(["'", "''", "\\", "\\'", "' OR '1'='1", "') OR true --", "%", "_", "*", "]", "[", ",",
                         "\"", ";", "NULL", "\x00"])
VALUES = st.one_of(st.text(min_size=1, max_size=20), st.lists(NASTY, min_size=1, max_size=4).map("".join),
                   st.builds(lambda a, b: a + b, st.text(max_size=5), NASTY))


DB = {}  # one LanceDB folder for every example


def _folder() -> str:
    """One folder per test process, removed when it ends (one was left in /tmp per run)."""
    folder = tempfile.mkdtemp(prefix="ragship-fuzz-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _table(values: list[str]):
    db = DB.setdefault("db", lancedb.connect(_folder()))
    rows = [{"doc_id": v, "tags": [f"team={v}"], "groups": [v]} for v in values]
    schema = pa.schema([("doc_id", pa.string()), ("tags", pa.list_(pa.string())), ("groups", pa.list_(pa.string()))])
    return db.create_table("t", pa.Table.from_pylist(rows, schema=schema), mode="overwrite")


def filters_select_exactly_the_equal_rows(value, others):
    """doc_id, a metadata field and the groups, each filtered on `value` among `others`."""
    value = value.strip() or "x"  # values are stripped when parsed
    values = sorted({value, *(o.strip() for o in others if o.strip())})
    t = _table(values)
    for flt, column in [(Filter(fields=(("doc_id", (value,)),)), "doc_id"),
                        (Filter(fields=(("team", (value,)),)), "doc_id"),
                        (Filter(groups=frozenset({value})), "doc_id")]:
        got = sorted(r[column] for r in t.search().where(flt.sql()).limit(None).to_list())
        expected = [v for v in values if v == value or (flt.fields and flt.fields[0][0] == "doc_id"
                                                          and value.endswith("*") and v.startswith(value[:-1]))]
        assert got == expected, (flt.sql(), got, expected)


test_filters_select_exactly, test_filters_select_exactly_long = both_sizes(
    filters_select_exactly_the_equal_rows, value=VALUES, others=st.lists(VALUES, max_size=4))
