"""Ingest the first N documents of a BEIR corpus into a fresh home with an empty cache; print the report and
this process's peak RSS as one JSON line. Run by bench_scifact.py in separate processes (1× and 4×)."""

import argparse
import gzip
import itertools
import json
import tempfile
from pathlib import Path

from ragship.engine import Engine
from ragship.settings import load_settings



def peak_rss_mib() -> float:
    """VmHWM, this process's own peak RSS (ru_maxrss would include the parent's, as it survives execve)."""
    with open("/proc/self/status") as f:
        return round(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path, help="a BEIR corpus.jsonl(.gz)")
    ap.add_argument("n", type=int, help="how many of its first documents to ingest")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "corpus.jsonl"
        with (gzip.open(args.corpus, "rt") if args.corpus.suffix == ".gz" else args.corpus.open()) as f, \
                subset.open("w") as out:
            out.writelines(itertools.islice(f, args.n))
        report = Engine(load_settings(home=Path(tmp) / "home", cache_dir=Path(tmp) / "cache")).ingest([subset])
        print(json.dumps({"documents": report.documents, "chunks": report.chunks,
                          "peak_rss_mib": peak_rss_mib()}))


if __name__ == "__main__":
    main()
