"""Domain errors of the answering core. They say what went wrong in the core's own words; the HTTP API maps
each one to a status code in one place (`verbatim.service.api.errors`), the CLI to an exit code."""

from __future__ import annotations

from verbatim.ingest.index.lock import IngestBusy
from verbatim.ingest.index.store import IndexUnavailable
from verbatim.ingest.reader import PathOutsideRoot
from verbatim.ingest.uploads import (
    AlreadyExists,
    BadUploadName,
    CorpusNotWritable,
    FileTooLarge,
    UnsupportedFormat,
    UploadRejected,
)

__all__ = [
    "AlreadyExists",
    "BadRequest",
    "BadUploadName",
    "CorpusNotWritable",
    "FileTooLarge",
    "IndexNotWritable",
    "IndexUnavailable",
    "IngestBusy",
    "InvalidRequest",
    "InvalidSpan",
    "NotReady",
    "PathOutsideRoot",
    "QAError",
    "SourceUnreadable",
    "UnknownSource",
    "UnknownSources",
    "UnsupportedFormat",
    "UploadRejected",
]


class QAError(Exception):
    """Base of the core's errors."""


class InvalidRequest(QAError):
    """The request is well formed but asks for something the core cannot do (a client error)."""


class BadRequest(InvalidRequest):
    """Older name of `InvalidRequest`; a status passed by older callers is ignored (the API maps)."""

    def __init__(self, message: str, _legacy_status: int | None = None) -> None:
        super().__init__(message)


class UnknownSources(InvalidRequest):
    """A `sources` filter names documents the index does not hold."""


class InvalidSpan(InvalidRequest):
    """A requested span is not inside the document."""


class UnknownSource(QAError, LookupError):
    """The document asked for is not in the index."""


class SourceUnreadable(QAError):
    """The document is indexed but its file can no longer be read (moved, deleted, re-encoded)."""


class NotReady(QAError):
    """The index is not loaded yet (first start still ingesting) or unreachable."""


class IndexNotWritable(QAError):
    """The data dir cannot be written (read-only, full, permissions): nothing can be indexed."""

    @classmethod
    def of(cls, exc: OSError) -> IndexNotWritable:
        return cls(f"cannot write the index: {exc.strerror or exc} ({exc.filename or ''})")
