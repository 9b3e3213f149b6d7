"""Every error ragship raises on purpose. Messages say what went wrong and what to do next.

The CLI turns a RagshipError into one line and `exit_code`; the API into a JSON problem with `http_status`.
"""


class RagshipError(Exception):
    """Base class; never raised directly."""

    exit_code = 1
    http_status = 500


class ConfigError(RagshipError):
    """A setting is invalid (names the field and the allowed values)."""

    exit_code = 2
    http_status = 500


class InputError(RagshipError):
    """The user's input (a path, a file, a query) cannot be used."""

    exit_code = 2
    http_status = 400


class SourceNotFound(InputError):
    http_status = 404


class UnsupportedFile(InputError):
    http_status = 415


class ParseError(InputError):
    """A file could not be read or parsed (corrupt, encrypted, binary, wrong encoding)."""

    http_status = 422


class EmptyCorpus(InputError):
    """Nothing ingestible was found."""


class DatasetError(InputError):
    """An evaluation dataset is missing a file or has a malformed row."""


class QueryError(InputError):
    """A search or ask request is malformed (empty query, k out of bounds, unknown mode)."""

    http_status = 422


class ModelNotAvailable(RagshipError):
    """A model cannot be loaded offline; the message says what to install or where to put it."""

    exit_code = 4
    http_status = 503


class GenerationError(RagshipError):
    """An LLM endpoint failed (down, too slow, an error status, or a malformed reply). `ask` falls back to the
    extractive generator and reports this reason; it reaches a user only if the fallback is turned off."""

    exit_code = 7
    http_status = 502


class IndexNotReady(RagshipError):
    """There is no live index version yet."""

    exit_code = 5
    http_status = 503


class IndexCorrupt(RagshipError):
    """Index state on disk disagrees with itself (e.g. the live pointer names a missing version)."""

    exit_code = 6
    http_status = 500


# `ragship ingest` exits 0 when every input was ingested, PARTIAL_EXIT when some failed (and are listed),
# and InputError.exit_code when nothing could be ingested.
PARTIAL_EXIT = 3
