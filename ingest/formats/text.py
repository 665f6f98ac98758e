"""Text formats: the document text is the file itself, read as UTF-8 exactly as on disk.

Plain text gets its structure from `scan.Scanner` when it is hard-wrapped (a paragraph runs over
several lines, so blank lines, not line ends, separate paragraphs). Text whose paragraphs each sit on
one long line (scraped web pages, unwrapped exports, the seeds) has no line structure beyond "a line is
a paragraph"; it is read without blocks, and the pipeline's page-shape rules (articles, bylines, web
debris) apply to its lines.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from verbatim.ingest.document import Block, ParsedDocument
from verbatim.ingest.formats.lines import Lines
from verbatim.ingest.formats.scan import Scanner
from verbatim.ingest.reader import ReadProblem

LONG_LINE_CHARS = 160  # wrapped text keeps lines near 80 columns; a paragraph on one line is far longer
LONG_LINE_SHARE = 0.2  # above this share of characters on long lines, the text is not hard-wrapped
TITLE_MAX_WORDS = 12


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


def hard_wrapped(text: str) -> bool:
    """True when lines are wrapped (paragraphs span lines); False when each paragraph is one long line."""
    lines = Lines.of(text)
    lengths = [e - s for s, e in lines.spans]
    total = sum(lengths)
    long = sum(n for n in lengths if n > LONG_LINE_CHARS)
    return total > 0 and long / total <= LONG_LINE_SHARE


def read_plain(path: Path, source: str, data: bytes) -> ParsedDocument | ReadProblem:
    text = decode_text(source, data)
    if isinstance(text, ReadProblem):
        return text
    digest = hashlib.sha256(data).hexdigest()
    if not hard_wrapped(text):
        return ParsedDocument(source, path, "text", text, digest)
    blocks = Scanner(text, rst=False).scan()
    title = leading_title(text, blocks) or path.stem
    return ParsedDocument(source, path, "text", text, digest, title=title, blocks=tuple(blocks))


_MAN_HEADER = re.compile(r"^\s*([\w.:+-]+)\(\w+\)\s.*\s\1\(\w+\)\s*$")


def leading_title(text: str, blocks: list[Block]) -> str | None:
    """A plain text's title: a man page's one-line description ("tar - an archiving utility", from its
    NAME section, rather than the "TAR(1) GNU TAR Manual TAR(1)" header); else its first block when that
    is one short line before any heading (a title page line); else None."""
    if blocks and _MAN_HEADER.match(text[blocks[0].start : blocks[0].end]):
        for i, block in enumerate(blocks[:-1]):
            if block.kind == "heading" and text[block.start : block.end].strip() == "NAME":
                return " ".join(text[blocks[i + 1].start : blocks[i + 1].end].split())
    if blocks and blocks[0].kind in ("paragraph", "heading"):
        first = text[blocks[0].start : blocks[0].end]
        words = first.split()
        if "\n" not in first.strip() and 0 < len(words) <= TITLE_MAX_WORDS:
            return " ".join(words)
    return None
