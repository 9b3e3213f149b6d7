import gzip
import json
from pathlib import Path

from ragship.ingest.sources import Source, read_beir_corpus
from ragship.types import Document, Failure

DATA = Path(__file__).parents[1] / "data"


def items(path, max_bytes=10**9):
    return list(Source(Path(path), max_bytes).documents())


def test_folder_walk_gives_stable_relative_ids_and_content_hashes():
    docs = items(DATA / "docs")
    assert all(isinstance(d, Document) for d in docs)
    assert sorted(d.doc_id for d in docs) == [
        "docs/ferries.pdf", "docs/handbook/depot.html", "docs/handbook/history.txt",
        "docs/handbook/lost-property.docx", "docs/handbook/stops.json", "docs/handbook/trams.md"]
    again = {d.doc_id: d.content_hash for d in items(DATA / "docs")}
    assert again == {d.doc_id: d.content_hash for d in docs}
    assert all(d.source == str((DATA / "docs").resolve()) for d in docs)


def test_bad_files_become_failures_with_reasons_and_others_continue():
    results = items(DATA / "bad")
    failures = {Path(f.path).name: f.reason for f in results if isinstance(f, Failure)}
    # notes.xyz is not a supported type: folders skip it silently, as they skip any other file type
    assert set(failures) == {"truncated.pdf", "zip-renamed.pdf", "binary.txt", "latin1.txt", "empty.md"}
    assert all(f.doc_id.startswith("bad/") for f in results if isinstance(f, Failure))


def test_naming_an_unsupported_file_is_a_failure():
    [failure] = items(DATA / "bad/notes.xyz")
    assert isinstance(failure, Failure) and "unsupported file type .xyz" in failure.reason


def test_missing_path_is_a_failure_not_a_crash(tmp_path):
    [failure] = items(tmp_path / "nope")
    assert isinstance(failure, Failure) and "path not found" in failure.reason and failure.doc_id == ""


def test_size_limit(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("x" * 2000)
    [failure] = items(big, max_bytes=1000)
    assert "over the 0 MB limit" in failure.reason or "limit" in failure.reason


def test_symlinks_are_not_followed(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.txt").write_text("secret outside the root")
    (tmp_path / "root" / "link.txt").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "root" / "real.txt").write_text("inside")
    assert [d.doc_id for d in items(tmp_path / "root")] == ["root/real.txt"]


def test_beir_rows_and_bad_rows(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"_id": "a", "title": "T", "text": "body"}) + "\n")
        f.write("{not json\n")
        f.write(json.dumps({"title": "no id"}) + "\n")
        f.write("\n")
        f.write(json.dumps({"_id": 7, "title": "", "text": "numeric id"}) + "\n")
    results = list(read_beir_corpus(path, "root"))
    assert [(r.doc_id, r.title, r.text) for r in results if isinstance(r, Document)] == [
        ("a", "T", "body"), ("7", "", "numeric id")]
    failures = [r for r in results if isinstance(r, Failure)]
    assert [f.path for f in failures] == [f"{path}:2", f"{path}:3"]
    assert "invalid JSON" in failures[0].reason and '"_id"' in failures[1].reason
