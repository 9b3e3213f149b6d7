import shutil
from pathlib import Path

import pytest

from conftest import DATA, make_engine
from ragship.errors import InputError


@pytest.fixture
def mixed(tmp_path) -> Path:
    folder = tmp_path / "mixed"
    shutil.copytree(DATA / "bad", folder)
    shutil.copy(DATA / "docs/handbook/history.txt", folder / "good.txt")
    return folder


def test_failures_are_kept_retried_and_cleared(tmp_path, cache_dir, mixed):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([mixed])
    entries = engine.ingestor.dead_letter.entries()
    assert sorted(Path(p).name for p in entries) == [
        "binary.txt", "empty.md", "latin1.txt", "truncated.pdf", "zip-renamed.pdf"]
    assert all(e["attempts"] == 1 and e["root"] == str(mixed.resolve()) for e in entries.values())

    (mixed / "latin1.txt").write_text("Café crème brûlée, now in UTF-8.", encoding="utf-8")
    retry = engine.ingest([], retry_failed=True)
    assert retry.added == 1 and retry.deleted == 0 and len(retry.failures) == 4
    entries = engine.ingestor.dead_letter.entries()
    assert len(entries) == 4 and all(e["attempts"] == 2 for e in entries.values())
    assert engine.registry.live().counts["documents"] == 2  # good.txt was not deleted by the partial retry

    for name in ("binary.txt", "empty.md", "truncated.pdf", "zip-renamed.pdf"):
        (mixed / name).unlink()
    engine.ingest([mixed])
    assert engine.ingestor.dead_letter.entries() == {} and engine.status()["failures"] == []


def test_retry_with_nothing_failed_says_so(tmp_path, cache_dir):
    with pytest.raises(InputError, match="no failed inputs to retry"):
        make_engine(tmp_path / "h", cache_dir).ingest([], retry_failed=True)


def test_failures_of_other_sources_are_kept(tmp_path, cache_dir, mixed):
    engine = make_engine(tmp_path / "h", cache_dir)
    engine.ingest([mixed])
    engine.ingest([DATA / "docs"])
    assert len(engine.ingestor.dead_letter.entries()) == 5


def test_include_and_exclude_globs(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "h", cache_dir)
    report = engine.ingest([DATA / "docs"], include=("*.md", "*.txt"), exclude=("history.*",))
    assert report.plan["added"] == ["docs/handbook/trams.md"]
    # widening the globs adds the rest; narrowing them later deletes what no longer matches
    assert engine.ingest([DATA / "docs"]).added == 5
    narrowed = engine.ingest([DATA / "docs"], exclude=("handbook/*",))
    assert narrowed.plan["deleted"] and all(d.startswith("docs/handbook/") for d in narrowed.plan["deleted"])
