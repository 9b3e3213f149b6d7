import gzip
import json

import pytest

from conftest import DATA, make_engine, shared_dataset
from ragship.errors import DatasetError
from ragship.evaluate.beir import load_dataset
from ragship.evaluate.runner import evaluate, markdown_report


def test_loads_only_judged_queries():
    ds = load_dataset(DATA / "beir-mini", "test")
    assert len(ds.queries) == 6 and "q7" not in ds.queries and ds.qrels["q1"] == {"d1": 1}


def test_missing_split_names_the_available_ones():
    with pytest.raises(DatasetError, match="no qrels for split 'train'; available splits: test"):
        load_dataset(DATA / "beir-mini", "train")


def test_folder_without_corpus(tmp_path):
    with pytest.raises(DatasetError, match="no corpus.jsonl"):
        load_dataset(tmp_path)


def test_eval_on_a_tiny_dataset(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "h", cache_dir)
    result = evaluate(engine, DATA / "beir-mini", "test", "hybrid")
    assert result["queries"] == 6 and result["documents"] == 12
    assert result["metrics"]["ndcg@10"] > 0.9 and result["metrics"]["recall@10"] == 1.0
    assert result["latency_ms"]["p50"] > 0
    report = markdown_report(result)
    assert "| ndcg@10 |" in report and "beir-mini" in report
    # the corpus is already in the index: a second run embeds nothing
    again = evaluate(make_engine(tmp_path / "h", cache_dir), DATA / "beir-mini", "test", "bm25")
    assert again["index_version"] == result["index_version"]


@pytest.fixture(scope="module")
def scifact_subset(tmp_path_factory):
    """200 SciFact documents holding every relevant document of 40 test queries (BEIR layout)."""
    src = shared_dataset("scifact")
    qrels = {}
    for line in (src / "qrels/test.tsv").read_text().splitlines()[1:]:
        q, d, _ = line.split("\t")
        qrels.setdefault(q, set()).add(d)
    chosen = dict(list(qrels.items())[:40])
    wanted = set().union(*chosen.values())
    out = tmp_path_factory.mktemp("scifact-200")
    docs = []
    with gzip.open(src / "corpus.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            if row["_id"] in wanted or len(docs) < 200 - len(wanted):
                docs.append(row)
    (out / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in docs))
    queries = [json.loads(line) for line in (src / "queries.jsonl").read_text().splitlines()]
    (out / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries if q["_id"] in chosen))
    (out / "qrels").mkdir()
    (out / "qrels/test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q, ds in chosen.items() for d in sorted(ds)))
    return out, docs, {q["_id"]: q["text"] for q in queries if q["_id"] in chosen}, chosen


def test_bm25_agrees_with_the_bm25s_reference(scifact_subset, tmp_path, cache_dir):
    """LanceDB's BM25 over chunks vs bm25s (Lucene, k1 1.5, b 0.75, English stemmer and stopwords) over whole
    documents, on the same 200 SciFact documents: the same ballpark (tests/comparison in bm25s does the same)."""
    bm25s = pytest.importorskip("bm25s")
    Stemmer = pytest.importorskip("Stemmer")
    from ragship.evaluate.metrics import retrieval_metrics

    folder, docs, queries, qrels = scifact_subset
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(bm25s.tokenize([f"{d['title']} {d['text']}" for d in docs], stopwords="en", stemmer=stemmer,
                                   show_progress=False), show_progress=False)
    run = {}
    for qid, text in queries.items():
        res, scores = retriever.retrieve(bm25s.tokenize(text, stopwords="en", stemmer=stemmer, show_progress=False),
                                         k=100, show_progress=False)
        run[qid] = {docs[i]["_id"]: float(s) for i, s in zip(res[0], scores[0])}
    reference = retrieval_metrics(run, {q: {d: 1 for d in ds} for q, ds in qrels.items()})

    ours = evaluate(make_engine(tmp_path / "h", cache_dir), folder, "test", "bm25")
    assert ours["queries"] == 40
    assert ours["metrics"]["ndcg@10"] == pytest.approx(reference["ndcg@10"], abs=0.05)
    hybrid = evaluate(make_engine(tmp_path / "h", cache_dir), folder, "test", "hybrid")
    assert hybrid["metrics"]["ndcg@10"] >= ours["metrics"]["ndcg@10"] - 0.02
