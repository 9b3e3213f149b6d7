"""The upload job (jobs.py runs it in whichever server process takes it): a job's files, from its
collection's uploads folder (uploads.py), ingested for the job's groups as one version; one result per file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ragship.ingest.ingestor import empty_corpus


def upload_job(collections) -> Callable[[dict, Any], list[dict]]:
    """The job's `Run` (jobs.py) for the collections of a server process."""

    def run(job: dict, observe) -> list[dict]:
        engine = collections.get(job["collection"])
        uploads = engine.ingestor.uploads
        paths = [uploads.folder / name for name in job["files"]]
        report = engine.release(engine.ingestor.upload(paths, tuple(job["groups"]), observe))
        empty = empty_corpus(report, ", ".join(p.name for p in paths))
        results = []
        for path in paths:
            failures = [{"file": path.name, "reason": f.reason} for f in report.failures
                        if Path(f.path).name == path.name and f.doc_id in ("", uploads.doc_id(path))]
            if empty and not failures:
                failures = [{"file": path.name, "reason": str(empty)}]
            results.append({"file": path.name, "doc_id": uploads.doc_id(path), "ingested": not failures,
                            "version": report.version, "failures": failures})
        return results

    return run
