"""PDF: the text layer, page by page (pypdf), with a page map and headings from the outline.

Pages are laid out one after another, separated by a blank line ("\n\n"), and each is a `Page` span so
every chunk and citation can name the page it starts on. Within a page, paragraphs are runs of lines
separated by a blank line or ended by a short line that closes a sentence (the usual layout of justified
text); a line that matches an outline (bookmark) title on that page is a heading at the outline's depth. A PDF
without an outline (a man page printed to PDF) has its short capitalised lines as section headings.

Refused with a reason, never a traceback: no text layer (scanned: OCR it first), password protected,
more pages than `VERBATIM_MAX_PDF_PAGES`, truncated or malformed files.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import statistics
from pathlib import Path
from typing import Any

from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats.assemble import TextBuilder, inline, tidy_lines
from verbatim.ingest.formats.limits import ReadLimits
from verbatim.ingest.reader import ReadProblem

log = logging.getLogger("verbatim.formats.pdf")
_SENTENCE_END = re.compile(r"[.!?:;)\"”’]$")
_NORMAL = re.compile(r"[\W_]+")
_CAPS_HEADING_WORDS = 4
_NUMBERING = re.compile(r"^(?:[0-9]+|[a-z]|[ivxlc]+)(?:[0-9a-z]*)$")


def read_pdf(path: Path, source: str, data: bytes, limits: ReadLimits) -> ParsedDocument | ReadProblem:
    """The PDF's text layer as pages of paragraphs and headings, or why it cannot be read."""
    if not data.lstrip()[:5].startswith(b"%PDF"):
        return ReadProblem(source, "not a PDF (no %PDF header)")
    try:
        return _read(path, source, data, limits)
    except Exception as exc:  # pypdf raises many types for damaged files: each is a per-file reason
        log.debug("cannot read %s", source, exc_info=True)
        return ReadProblem(source, f"malformed or truncated PDF ({type(exc).__name__}: {exc})"[:300])


def _read(path: Path, source: str, data: bytes, limits: ReadLimits) -> ParsedDocument | ReadProblem:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # an empty user password: readable by anyone, so read it
        except (DependencyError, NotImplementedError) as exc:
            return ReadProblem(source, f"encrypted PDF that cannot be decrypted here ({exc})")
        if not opened:
            return ReadProblem(source, "encrypted PDF (password protected)")
    try:
        count = len(reader.pages)
    except FileNotDecryptedError:
        return ReadProblem(source, "encrypted PDF (password protected)")
    if count > limits.max_pdf_pages:
        return ReadProblem(
            source,
            f"too many pages ({count:,}; the limit is {limits.max_pdf_pages:,}, VERBATIM_MAX_PDF_PAGES)",
        )
    if count == 0:
        return ReadProblem(source, "PDF has no pages")
    headings = _outline(reader)
    builder = TextBuilder()
    for index, page in enumerate(reader.pages):
        builder.start_page()
        _layout_page(tidy_lines(page.extract_text() or ""), headings.get(index, []), builder, not headings)
        builder.end_page(index + 1)
    if not builder.blocks:
        return ReadProblem(source, "no text layer; OCR it first")
    text = builder.text()
    return ParsedDocument(
        source,
        path,
        "pdf",
        text,
        hashlib.sha256(data).hexdigest(),
        title=_title(reader),
        blocks=tuple(builder.blocks),
        pages=tuple(builder.pages),
        converted=True,
    )


def _normal(text: str) -> str:
    return _NORMAL.sub(" ", text.lower()).strip()


def _outline(reader: Any) -> dict[int, list[tuple[str, int]]]:
    """Outline (bookmark) titles by 0-based page index, with their depth as heading level (1-based)."""
    found: dict[int, list[tuple[str, int]]] = {}

    def walk(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # a dangling bookmark: no heading, the text is still read
                continue
            title = _normal(str(getattr(item, "title", "") or ""))
            if title and page is not None and page >= 0:
                found.setdefault(page, []).append((title, min(depth + 1, 6)))

    try:
        walk(reader.outline, 0)
    except Exception:  # a broken outline costs the headings, not the document
        log.debug("unreadable outline", exc_info=True)
    return found


def _heading_level(line: str, headings: list[tuple[str, int]]) -> int:
    """The outline level of a line that is an outline title (possibly after its section number)."""
    norm = _normal(line)
    if not norm or len(norm) > 200:
        return 0
    for title, level in headings:
        if norm == title:
            return level
        if norm.endswith(" " + title) and all(_NUMBERING.match(p) for p in norm[: -len(title)].split()):
            return level
    return 0


def _caps_heading(line: str) -> bool:
    """A short line in capitals without closing punctuation: a section heading of a PDF without an
    outline ("NAME", "SEE ALSO", "EXIT STATUS" in a man page printed to PDF)."""
    letters = [ch for ch in line if ch.isalpha()]
    visible = len(line) - line.count(" ")
    return (
        len(letters) >= 2
        and len(letters) >= 0.8 * visible  # not a diagram ("A---M---B") or a variable ("LC_ALL")
        and "_" not in line
        and len(line.split()) <= _CAPS_HEADING_WORDS
        and all(ch.isupper() for ch in letters)
        and not line.endswith((".", ",", ";", ":"))
        and not line.startswith("-")
    )


def _layout_page(
    text: str, headings: list[tuple[str, int]], builder: TextBuilder, caps_headings: bool = False
) -> None:
    """Headings and paragraphs of one page's text (lines as pypdf extracted them). `caps_headings`:
    the document has no outline, so capitalised short lines are its section headings."""
    lines = text.split("\n")
    widths = [len(line.strip()) for line in lines if len(line.strip()) > 20]
    typical = statistics.median(widths) if widths else 0
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            builder.add("\n".join(paragraph), "paragraph")
            paragraph.clear()

    for raw in lines:
        line = raw.strip()
        if not line:
            flush()
            continue
        level = _heading_level(line, headings) or (1 if caps_headings and _caps_heading(line) else 0)
        if level:
            flush()
            builder.add(inline(line), "heading", level)
            continue
        paragraph.append(line)
        if typical and len(line) < 0.7 * typical and _SENTENCE_END.search(line):
            flush()
    flush()


def _title(reader: Any) -> str | None:
    """The document's title from its metadata (not a file name); else None, and the heading path
    starts at the first heading."""
    try:
        meta = reader.metadata
        title = inline(str(meta.title)) if meta is not None and meta.title else ""
    except Exception:  # unreadable metadata costs the title only
        title = ""
    if title and not title.lower().endswith((".pdf", ".doc", ".docx", ".dvi", ".tex", ".odt")):
        return title
    return None
