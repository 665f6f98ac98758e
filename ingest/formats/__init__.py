"""One reader per file format, chosen by suffix: each turns a file into a `ParsedDocument` or a reason.

Readers never raise for bad input: a file that cannot be read comes back as a `ReadProblem` whose reason
the ingest report shows the user (unsupported format, not UTF-8, no text layer, encrypted, too large…).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats import markdown, rst, text
from verbatim.ingest.reader import ReadProblem, source_name

Reader = Callable[[Path, str, bytes], ParsedDocument | ReadProblem]  # (path, source, file bytes)

READERS: dict[str, Reader] = {
    ".txt": text.read_plain,
    ".text": text.read_plain,
    ".md": markdown.read_markdown,
    ".markdown": markdown.read_markdown,
    ".rst": rst.read_rst,
    ".rest": rst.read_rst,
}


def supported_suffixes() -> list[str]:
    """Suffixes Verbatim can index, for messages and the upload limit (415)."""
    return sorted(READERS)


def unsupported_reason(path: Path) -> str:
    return (
        f"unsupported format {path.suffix or '(no suffix)'!r} (supported: {', '.join(supported_suffixes())})"
    )


def read_document(path: Path, root: Path, max_bytes: int | None = None) -> ParsedDocument | ReadProblem:
    """Read one file under `root` with the reader of its suffix, or say why it cannot be indexed."""
    source = source_name(path, root)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        return ReadProblem(source, unsupported_reason(path))
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            return ReadProblem(source, f"too large ({size:,} bytes; the limit is {max_bytes:,})")
        data = path.read_bytes()
    except OSError as exc:
        return ReadProblem(source, f"cannot read: {exc.strerror or exc}")
    return reader(path, source, data)
