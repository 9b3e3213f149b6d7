"""What a benchmark records beside its figures (the machine, the commit, the date) and how it writes them:
docs/benchmarks.md is written by several benchmark scripts; `make bench` writes the whole file and keeps the
sections other scripts own, each between `<!-- NAME: begin -->` and `<!-- NAME: end -->`."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path

from ragship.errors import DatasetError

_SECTION = re.compile(r"<!-- (?P<name>[\w-]+): begin -->.*?<!-- (?P=name): end -->\n?", re.S)


def machine() -> str:
    """The CPU (and its matrix instructions), cores, memory, Python and the load when the benchmark started."""
    from ragship.cpu import matrix_flags

    info = Path("/proc/cpuinfo")
    cpu = next((line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if info.exists() else "?"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    flags = " ".join(matrix_flags())
    return (f"{cpu} (matrix flags: {flags or 'none'}), {os.cpu_count()} cores, {mem:.0f} GiB, "
            f"Python {platform.python_version()}, load {load}")


def commit(root: Path | None = None) -> str:
    """The short commit of the checkout at `root` (default: the one this ragship is imported from), "(with
    uncommitted changes)" when tracked files differ; "unknown" outside a checkout."""
    here = Path(root) if root is not None else Path(__file__).resolve().parent
    try:
        top = _git(here, "rev-parse", "--show-toplevel")
        sha = _git(here, "rev-parse", "--short", "HEAD")
        # the sections an earlier benchmark of the same session wrote are output, not a change to what is measured
        dirty = _git(Path(top), "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/benchmarks.md")
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def header(root: Path | None = None) -> dict:
    """Machine, commit and date, printed as a benchmark's first JSON line."""
    h = {"machine": machine(), "commit": commit(root), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(json.dumps(h), flush=True)
    return h


def corpus_file(data: Path) -> Path:
    """The corpus.jsonl(.gz) of a BEIR folder; DatasetError naming the folder when there is none."""
    corpus = next(Path(data).glob("corpus.jsonl*"), None)
    if corpus is None:
        raise DatasetError(f"no corpus.jsonl in {data}: pass the SciFact folder (../shared/datasets/scifact)")
    return corpus


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the named section of the file."""
    section = f"<!-- {name}: begin -->\n{body.rstrip()}\n<!-- {name}: end -->\n"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(rf"<!-- {re.escape(name)}: begin -->.*?<!-- {re.escape(name)}: end -->\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def kept_sections(path: Path) -> str:
    """Every named section of the file, for a script that rewrites the rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return "\n".join(m.group(0) for m in _SECTION.finditer(text))
