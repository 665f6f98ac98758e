"""reStructuredText: structure from `scan.Scanner` (titles by adornment, literal and code blocks,
directives, lists, field lists, tables). Title: the first section title when it is the only one at its
level (docutils' document title), else the file name stem."""

from __future__ import annotations

import hashlib
from pathlib import Path

from verbatim.ingest.document import ParsedDocument, heading_label
from verbatim.ingest.formats.scan import Scanner
from verbatim.ingest.formats.text import decode_text
from verbatim.ingest.reader import ReadProblem


def read_rst(path: Path, source: str, data: bytes) -> ParsedDocument | ReadProblem:
    text = decode_text(source, data)
    if isinstance(text, ReadProblem):
        return text
    blocks = Scanner(text, rst=True).scan()
    headings = [b for b in blocks if b.kind == "heading"]
    title = None
    # As docutils does: the first title is the document's title when no other section shares its level.
    if headings and not any(b.level == headings[0].level for b in headings[1:]):
        title = heading_label(text[headings[0].start : headings[0].end]) or None
    return ParsedDocument(
        source,
        path,
        "rst",
        text,
        hashlib.sha256(data).hexdigest(),
        title=title or path.stem,
        blocks=tuple(blocks),
    )
