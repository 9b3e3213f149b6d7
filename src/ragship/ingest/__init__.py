"""Ingestion: sources → parsers → chunking → (embed) → index. `pipeline.ingest` runs the whole path."""
