"""One module per family of file formats; `ragship.ingest.parsers` maps file suffixes to them."""
