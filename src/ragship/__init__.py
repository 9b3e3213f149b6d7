"""ragship: retrieval-augmented question answering with cited answers, measured quality and safe releases."""

__version__ = "0.1.0"
