"""Every error ragship raises on purpose, grouped by cause. Messages say what went wrong and what to do next.

The CLI turns a RagshipError into one line and `exit_code`; the API into a JSON problem with `http_status`.

    class                             exit  HTTP
    RagshipError                       1   500   the base; never raised itself
    ├── InputError                     2   400   the caller's input (a path, a file, a query)
    │   ├── NotFound                   2   404   what the request names does not exist (or is not the caller's)
    │   │   ├── DocumentNotFound       2   404
    │   │   ├── AnswerNotFound         2   404
    │   │   ├── JobNotFound            2   404
    │   │   ├── CollectionNotFound     2   404
    │   │   └── VersionNotFound        2   404
    │   ├── UnsupportedFile            2   415
    │   ├── ParseError                 2   422
    │   ├── QueryError                 2   422
    │   ├── ArchiveError               2   422
    │   ├── TooLarge                   2   413
    │   ├── Conflict                   2   409
    │   │   └── GateUnavailable        2   409
    │   ├── EmptyCorpus                2   400
    │   ├── DatasetError               2   400
    │   └── FeedbackRefused            2   422
    ├── Unauthorized                   2   401   who is calling
    ├── Forbidden                      2   403
    ├── RateLimited                    1   429
    ├── ConfigError                    2   500   the settings and the models
    ├── ModelNotAvailable              4   503
    ├── IndexNotReady                  5   503   the home on disk
    ├── HomeFileDamaged                6   503   (was StateCorrupt: that name still loads, for one release)
    ├── StorageError                   9   507
    │   └── ReadOnlyStorage            9   503
    ├── StateUnavailable              10   503   a service ragship uses
    ├── GenerationError                7   502
    ├── RequestTimeout                 1   503
    ├── ProcessEnded                  11   500   a process of ragship's own (training) ended without its result
    ├── GateRefused                    8   409   a release the gate refused: the candidate stays a candidate
    └── DeletionsHeld                  8   409   a release held back because it removes too many live documents: a
                                                 policy outcome like a gate refusal, not bad input

Exit 3 (PARTIAL_EXIT: an ingest that listed some failures) is no error class. tests/test_errors.py checks that this
tree names every class with its parent and codes, and that README's exit-code list names every code; an old name
kept loading for a release (StateCorrupt) is an alias, no class of its own.

The constants and the helper that maps a disk failure come after the classes.
"""

from __future__ import annotations


class RagshipError(Exception):
    """Base class; never raised directly."""

    exit_code = 1
    http_status = 500


# -- the caller's input ------------------------------------------------------------------------------------------
class InputError(RagshipError):
    """The user's input (a path, a file, a query) cannot be used."""

    exit_code = 2
    http_status = 400


class NotFound(InputError):
    """What the request names does not exist (or is not the caller's to see)."""

    http_status = 404


class DocumentNotFound(NotFound):
    """No such document, or not one the caller may read (the two are indistinguishable on purpose)."""


class AnswerNotFound(NotFound):
    """No answer of that id that the caller may rate."""


class JobNotFound(NotFound):
    """No upload job of that id that the caller may see."""


class CollectionNotFound(NotFound):
    """No collection of that name."""


class VersionNotFound(NotFound):
    """No index version (or gate report) of that id."""


class UnsupportedFile(InputError):
    """A file type no parser reads."""

    http_status = 415


class ParseError(InputError):
    """A file could not be read or parsed (corrupt, encrypted, binary, wrong encoding)."""

    http_status = 422


class QueryError(InputError):
    """A search or ask request is malformed (empty query, k out of bounds, unknown mode)."""

    http_status = 422


class ArchiveError(InputError):
    """An export archive that cannot be imported: unreadable, a file whose checksum does not match, or a format
    newer than this ragship reads. The message names the file and what to do."""

    http_status = 422


class TooLarge(InputError):
    """A request body or an upload is over its size limit."""

    http_status = 413


class Conflict(InputError):
    """The request clashes with the current state (a collection that already exists, another ingest running)."""

    http_status = 409


class GateUnavailable(Conflict):
    """A gate asked for where it has nothing to judge by (no golden sets): the caller's situation, not a fault of
    the server; configure golden sets, or promote with force."""


class EmptyCorpus(InputError):
    """Nothing ingestible was found."""


class DatasetError(InputError):
    """An evaluation dataset is missing a file or has a malformed row."""


class FeedbackRefused(InputError):
    """Feedback that no label may come from: a mark on a source the answer did not show."""

    http_status = 422


# -- who is calling ------------------------------------------------------------------------------------------------
class Unauthorized(RagshipError):
    """No API key, or one that is unknown or revoked."""

    exit_code = 2
    http_status = 401


class Forbidden(RagshipError):
    """The key's role does not allow the operation."""

    exit_code = 2
    http_status = 403


class RateLimited(RagshipError):
    """Too many requests for this key; `retry_after` says when to try again (seconds)."""

    http_status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


# -- the settings and the models ---------------------------------------------------------------------------------
class ConfigError(RagshipError):
    """A setting is invalid (names the field and the allowed values)."""

    exit_code = 2
    http_status = 500


class ModelNotAvailable(RagshipError):
    """A model cannot be loaded offline; the message says what to install or where to put it."""

    exit_code = 4
    http_status = 503


# -- the home on disk --------------------------------------------------------------------------------------------
class IndexNotReady(RagshipError):
    """There is no live index version yet."""

    exit_code = 5
    http_status = 503


class HomeFileDamaged(RagshipError):
    """A file of the home (the live pointer, version records, an index file or manifest, the state store, a
    calibration, a job...) is missing where it must exist, or cannot be read. The message names the file and the
    command that repairs or explains it."""

    exit_code = 6
    http_status = 503


StateCorrupt = HomeFileDamaged  # old name, kept loading for one release


class StorageError(RagshipError):
    """The disk refused a write because it is full. What was being written is discarded; what is live stays."""

    exit_code = 9
    http_status = 507


class ReadOnlyStorage(StorageError):
    """The disk refused a write because it is read-only (the service is unavailable, not out of space)."""

    http_status = 503


# -- a service ragship uses --------------------------------------------------------------------------------------
class StateUnavailable(RagshipError):
    """The shared state store (state.url) cannot be reached or refused the work; nothing was changed."""

    exit_code = 10
    http_status = 503


class GenerationError(RagshipError):
    """An LLM endpoint failed (down, too slow, an error status, or a malformed reply). `ask` falls back to the
    extractive generator and reports this reason; it reaches a user only if the fallback is turned off."""

    exit_code = 7
    http_status = 502


class RequestTimeout(RagshipError):
    """A request ran past server.request_timeout_s (its answer is dropped; the work it started may finish)."""

    http_status = 503


# -- a process of ragship's own ---------------------------------------------------------------------------------
class ProcessEnded(RagshipError):
    """A step that runs in a child process of its own (training) ended without its result: killed, or out of
    memory. Nothing it would have written is used."""

    exit_code = 11


# -- releases ----------------------------------------------------------------------------------------------------
class GateRefused(RagshipError):
    """The release gate found a significant regression: the candidate stays a candidate. `reports` holds the
    gate's reports (the comparison table and the queries that lost most)."""

    exit_code = 8
    http_status = 409

    def __init__(self, message: str, reports: list | None = None):
        super().__init__(message)
        self.reports = reports or []


class DeletionsHeld(RagshipError):
    """An ingest or sync removes more of the live documents than release.hold_deletions_over: its version waits
    as a candidate whatever auto_promote says. A policy outcome like a gate refusal, not bad input."""

    exit_code = GateRefused.exit_code
    http_status = 409


# -- constants and the disk-failure helper -------------------------------------------------------------------------
REPAIR = "run `ragship doctor --repair` (it repairs what it can without losing data and explains the rest)"

# `ragship ingest` exits 0 when every input was ingested, PARTIAL_EXIT when some failed (and are listed),
# and InputError.exit_code when nothing could be ingested.
PARTIAL_EXIT = 3

_DISK = {28: "no space left on the device", 122: "the disk quota is exceeded", 30: "the file system is read-only"}


def storage_error(e: BaseException) -> StorageError | None:
    """A StorageError (ReadOnlyStorage for a read-only file system) for a disk failure: a Python OSError, or one
    LanceDB reports as text; None for anything else."""
    errno = getattr(e, "errno", None)
    if errno not in _DISK:
        text = str(e)
        errno = next((n for n in _DISK if f"os error {n})" in text), None)
    if errno is None:
        return None
    filename = getattr(e, "filename", None)
    where = f" writing {filename}" if filename else ""
    kind = ReadOnlyStorage if errno == 30 else StorageError
    return kind(f"{_DISK[errno]}{where}: the write was abandoned and the live index version is untouched; free "
                "space (or make the home writable) and run it again")
