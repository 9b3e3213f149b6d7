"""Which chunks a query may see: the caller's permission groups and the user's metadata filters.

One `Filter` compiles two ways that must agree: to a SQL predicate that LanceDB applies inside the BM25 and ANN
queries (prefilter, so top-k is filled from permitted chunks), and to a boolean mask over the columns the index
view keeps in memory for exact dense search. tests/retrieve/test_filters.py checks that they agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterable, Mapping

import numpy as np

from ragship.errors import QueryError
from ragship.index.memory import Coded
from ragship.util.sql import quote

# fields with their own column; any other name is a metadata key, matched against the `tags` column
COLUMN_FIELDS = ("doc_id", "source")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
MAX_VALUES = 100


@dataclass(frozen=True)
class Filter:
    """`groups`: the caller's groups (None = no permission check: a local user or an admin). A chunk is
    readable when its document lists no groups (public) or shares one with the caller.
    `fields`: (name, allowed values) pairs, ANDed; values within one field are ORed. A value ending in `*`
    on doc_id or source matches by prefix."""

    groups: frozenset[str] | None = None
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()
    hidden: frozenset[str] = frozenset()  # deleted document ids, hidden in every version (index/tombstones.py)

    @property
    def empty(self) -> bool:
        return self.groups is None and not self.fields and not self.hidden

    def hiding(self, doc_ids: Iterable[str]) -> Filter:
        return replace(self, hidden=self.hidden | frozenset(doc_ids))

    # -- SQL, for LanceDB ----------------------------------------------------------------------------------
    def sql(self) -> str | None:
        parts = [] if self.groups is None else [_groups_sql(self.groups)]
        parts += [_field_sql(name, values) for name, values in self.fields]
        if self.hidden:
            parts.append(f"doc_id NOT IN ({', '.join(quote(d) for d in sorted(self.hidden))})")
        return " AND ".join(f"({p})" for p in parts) or None

    # -- a mask over in-memory columns ----------------------------------------------------------------------
    def mask(self, columns: Mapping[str, Coded]) -> np.ndarray | None:
        """Rows allowed, given each filterable column as codes into its distinct values (see `Coded`)."""
        if self.empty:
            return None
        mask = np.ones(len(columns["doc_id"].codes), dtype=bool)
        if self.groups is not None:
            mask &= columns["groups"].where(lambda gs: not gs or bool(self.groups & set(gs)))
        for name, values in self.fields:
            if name in COLUMN_FIELDS:
                mask &= columns[name].where(lambda v, vs=values: any(_matches(v, x) for x in vs))
            else:
                wanted = {f"{name}={x}" for x in values}
                mask &= columns["tags"].where(lambda ts, w=wanted: bool(w & set(ts)))
        if self.hidden:
            mask &= columns["doc_id"].where(lambda d: d not in self.hidden)
        return mask


def parse_filters(specs: Iterable[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`["lang=en,de", "source=docs/*"]` → (("lang", ("en", "de")), ("source", ("docs/*",)))."""
    fields: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise QueryError(f"filter {spec!r} must look like FIELD=VALUE[,VALUE...] (FIELD: letters, digits, _.-)")
        fields[name] = _values(name, raw.split(","))
    return tuple(fields.items())


def filter_from_mapping(mapping: Mapping[str, str | list[str]] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The JSON form used by the API: {"lang": ["en", "de"], "source": "docs/*"}."""
    out = []
    for name, raw in (mapping or {}).items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise QueryError(f"filter field {name!r} must be letters, digits, _ . - (at most 64)")
        out.append((name, _values(name, [raw] if isinstance(raw, str) else list(raw))))
    return tuple(out)


def _values(name: str, raw: list) -> tuple[str, ...]:
    values = tuple(str(v).strip() for v in raw if str(v).strip())
    if not values:
        raise QueryError(f"filter {name!r} has no value; use {name}=VALUE")
    if len(values) > MAX_VALUES:
        raise QueryError(f"filter {name!r} has {len(values)} values; the limit is {MAX_VALUES}")
    return values


def _matches(value: str, pattern: str) -> bool:
    return value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern


def _groups_sql(groups: frozenset[str]) -> str:
    public = "array_length(groups) = 0"
    if not groups:
        return public
    return f"{public} OR array_has_any(groups, [{', '.join(quote(g) for g in sorted(groups))}])"


def _field_sql(name: str, values: tuple[str, ...]) -> str:
    if name in COLUMN_FIELDS:
        exact = [v for v in values if not v.endswith("*")]
        parts = [f"{name} IN ({', '.join(quote(v) for v in exact)})"] if exact else []
        parts += [f"starts_with({name}, {quote(v[:-1])})" for v in values if v.endswith("*")]
        return " OR ".join(parts)
    return f"array_has_any(tags, [{', '.join(quote(f'{name}={v}') for v in values)}])"
