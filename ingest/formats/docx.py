"""DOCX: paragraphs, headings (from paragraph styles), list items and table rows, in document order.

The archive's directory is checked before anything is decompressed: a file whose members would
inflate past `VERBATIM_MAX_DOCX_BYTES` (a zip bomb, or just too big) is refused, as are files that
are not zip archives or are truncated.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats.assemble import TextBuilder, inline
from verbatim.ingest.formats.limits import ReadLimits
from verbatim.ingest.reader import ReadProblem

log = logging.getLogger("verbatim.formats.docx")
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"^list\b", re.IGNORECASE)
_MAIN_PART = "word/document.xml"


def read_docx(path: Path, source: str, data: bytes, limits: ReadLimits) -> ParsedDocument | ReadProblem:
    """The document body as blocks, or why it cannot be read."""
    problem = _check_archive(data, limits)
    if problem:
        return ReadProblem(source, problem)
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
        builder = TextBuilder()
        title = _body(document, builder)
    except Exception as exc:  # python-docx and lxml raise many types for damaged parts
        log.debug("cannot read %s", source, exc_info=True)
        return ReadProblem(source, f"malformed DOCX ({type(exc).__name__}: {exc})"[:300])
    if not builder.blocks:
        return ReadProblem(source, "no text in the DOCX document")
    text = builder.text()
    core_title = ""
    try:
        core_title = inline(document.core_properties.title or "")
    except Exception:  # unreadable core properties cost the title only
        core_title = ""
    return ParsedDocument(
        source,
        path,
        "docx",
        text,
        hashlib.sha256(data).hexdigest(),
        title=core_title or title,
        blocks=tuple(builder.blocks),
        converted=True,
    )


def _check_archive(data: bytes, limits: ReadLimits) -> str | None:
    """Why the zip directory rules the file out (not a zip, no document part, too big inflated)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        return f"not a DOCX: not a readable zip archive, perhaps truncated ({exc})"
    if not any(m.filename == _MAIN_PART for m in members):
        return f"not a DOCX: the archive has no {_MAIN_PART}"
    inflated = sum(m.file_size for m in members)
    if inflated > limits.max_docx_uncompressed_bytes:
        return (
            f"DOCX would inflate to {inflated:,} bytes (zip bomb guard; the limit is "
            f"{limits.max_docx_uncompressed_bytes:,}, VERBATIM_MAX_DOCX_BYTES)"
        )
    return None


def _body(document: Any, builder: TextBuilder) -> str | None:
    """Lay out the body; return the first Title (or else Heading 1) paragraph's text."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    title: str | None = None
    first_heading: str | None = None
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            _table(item, builder)
        elif isinstance(item, Paragraph):
            text = _paragraph_text(item)
            if not text:
                continue
            kind, level = _kind(item)
            if kind == "heading":
                text = inline(text)
                if level == 0:  # the Title style
                    title = title or text
                    level = 1
                elif first_heading is None:
                    first_heading = text
            builder.add(text, kind, level)
    return title or first_heading


def _paragraph_text(paragraph: Any) -> str:
    """The paragraph's text; a manual line break stays a line break, other whitespace collapses."""
    return "\n".join(filter(None, (inline(line) for line in paragraph.text.split("\n"))))


def _kind(paragraph: Any) -> tuple[Any, int]:
    style = ""
    try:
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
    except Exception:  # a dangling style reference: read it as a paragraph
        style = ""
    if style.lower() == "title":
        return "heading", 0
    match = _HEADING_STYLE.match(style)
    if match:
        return "heading", min(int(match.group(1)), 6)
    outline = paragraph._p.pPr.outlineLvl if paragraph._p.pPr is not None else None
    if outline is not None and outline.val is not None and int(outline.val) < 6:
        return "heading", int(outline.val) + 1
    numbered = paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None
    if numbered or _LIST_STYLE.match(style):
        return "list_item", 0
    return "paragraph", 0


def _table(table: Any, builder: TextBuilder) -> None:
    """One line per row, cells joined with " | " (a merged cell once)."""
    builder.break_group()
    group = object()
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            value = inline(cell.text)
            if value:
                cells.append(value)
        builder.add(" | ".join(cells), "table_row", group=group)
    builder.break_group()
