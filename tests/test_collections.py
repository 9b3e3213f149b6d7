"""Named collections of one home: each its own index and settings; a name that is none is its own error."""

import pytest

from conftest import DATA, make_engine
from ragship.collections import Collections
from ragship.errors import RagshipError


def test_a_missing_collection_is_a_collection_not_found(tmp_path, cache_dir):
    """Issue 32: a missing collection raised SourceNotFound, the error of a missing file or folder to ingest."""
    collections = Collections(make_engine(tmp_path / "home", cache_dir))
    with pytest.raises(RagshipError, match="no collection 'nope'") as missing:
        collections.get("nope")
    assert type(missing.value).__name__ == "CollectionNotFound" and missing.value.http_status == 404


def test_a_collection_has_its_own_index_and_settings(tmp_path, cache_dir):
    collections = Collections(make_engine(tmp_path / "home", cache_dir))
    notes = collections.create("notes", {"search": {"top_k": 2}})
    notes.release(notes.ingest([DATA / "docs"]))
    assert collections.names() == ["default", "notes"] and notes.settings.search.top_k == 2
    assert len(notes.search("tram").hits) == 2 and collections.default.registry.live() is None
    assert collections.describe("notes")["settings"] == {"search": {"top_k": 2}}
