"""One reader per file format, chosen by suffix: each turns a file into a `ParsedDocument` or a reason.

Readers never raise for bad input: a file that cannot be read comes back as a `ReadProblem` whose reason
the ingest report shows the user (unsupported format, not UTF-8, no text layer, encrypted, too large…).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats import docx, html, markdown, pdf, rst, text
from verbatim.ingest.formats.limits import ReadLimits
from verbatim.ingest.reader import ReadProblem, source_name

Reader = Callable[[Path, str, bytes], ParsedDocument | ReadProblem]  # (path, source, file bytes)
# Converters of binary or markup formats, which also need the per-format limits.
Converter = Callable[[Path, str, bytes, ReadLimits], ParsedDocument | ReadProblem]

READERS: dict[str, Reader] = {
    ".txt": text.read_plain,
    ".text": text.read_plain,
    ".md": markdown.read_markdown,
    ".markdown": markdown.read_markdown,
    ".rst": rst.read_rst,
    ".rest": rst.read_rst,
}

CONVERTERS: dict[str, Converter] = {
    ".html": lambda path, source, data, _limits: html.read_html(path, source, data),
    ".htm": lambda path, source, data, _limits: html.read_html(path, source, data),
    ".xhtml": lambda path, source, data, _limits: html.read_html(path, source, data),
    ".pdf": pdf.read_pdf,
    ".docx": docx.read_docx,
}
CONVERTED_FORMATS = frozenset({"html", "pdf", "docx"})


def supported_suffixes() -> list[str]:
    """Suffixes Verbatim can index, for messages and the upload limit (415)."""
    return sorted({*READERS, *CONVERTERS})


def is_converted(path: Path) -> bool:
    """Whether a file's document text is extracted (stored in the index) rather than the file itself."""
    return path.suffix.lower() in CONVERTERS


def unsupported_reason(path: Path) -> str:
    return (
        f"unsupported format {path.suffix or '(no suffix)'!r} (supported: {', '.join(supported_suffixes())})"
    )


def read_document(
    path: Path, root: Path, max_bytes: int | None = None, limits: ReadLimits | None = None
) -> ParsedDocument | ReadProblem:
    """Read one file under `root` with the reader of its suffix, or say why it cannot be indexed."""
    source = source_name(path, root)
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    converter = CONVERTERS.get(suffix)
    if reader is None and converter is None:
        return ReadProblem(source, unsupported_reason(path))
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            return ReadProblem(
                source, f"too large ({size:,} bytes; the limit is {max_bytes:,}, VERBATIM_MAX_FILE_BYTES)"
            )
        data = path.read_bytes()
    except OSError as exc:
        return ReadProblem(source, f"cannot read: {exc.strerror or exc}")
    if converter is not None:
        return converter(path, source, data, limits or ReadLimits())
    assert reader is not None
    return reader(path, source, data)
