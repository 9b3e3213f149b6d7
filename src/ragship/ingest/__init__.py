"""Ingestion: sources → parsers → chunking → (embed) → index. `pipeline.ingest` runs the whole path.

Sources: folders and BEIR corpora (sources.py), S3, Git and websites (remote.py), the Document they share
(document.py); parsers (parsers.py, one module per format family in formats/); chunking (chunking.py); the run's
plan and batches (build.py), run locally (pipeline.py) or on Ray Data (ray_executor.py); runs on one home, one
writer at a time (ingestor.py); what could not be ingested (dead_letter.py); uploaded files (uploads.py) and the
upload job that ingests them (upload_job.py), queued for the server processes' workers (jobs.py)."""
