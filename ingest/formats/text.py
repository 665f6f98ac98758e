"""Text formats: the document text is the file itself, read as UTF-8 exactly as on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.reader import ReadProblem


def decode_text(source: str, data: bytes) -> str | ReadProblem:
    """The file's text (offsets are into it), or why it is not a text file."""
    if b"\x00" in data[:8192]:
        return ReadProblem(source, "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ReadProblem(source, f"not UTF-8 (byte {exc.start}: {exc.reason})")
    if not text.strip():
        return ReadProblem(source, "empty file")
    # Offsets are defined on the text read with newline="": decoding the bytes gives the same string.
    return text


def read_plain(path: Path, source: str, data: bytes) -> ParsedDocument | ReadProblem:
    text = decode_text(source, data)
    if isinstance(text, ReadProblem):
        return text
    return ParsedDocument(source, path, "text", text, hashlib.sha256(data).hexdigest())


def read_markdown(path: Path, source: str, data: bytes) -> ParsedDocument | ReadProblem:
    text = decode_text(source, data)
    if isinstance(text, ReadProblem):
        return text
    return ParsedDocument(source, path, "markdown", text, hashlib.sha256(data).hexdigest())
