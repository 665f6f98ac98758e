"""What a reader makes of one file: the text offsets point into, and its structure as typed blocks.

This is the seam between reading (one reader per format, `ingest/formats/`) and the rest of the
pipeline (cleaning, segmenting, chunking), which never looks at a file's format again:

- text formats (`.txt`, `.md`, `.rst`, …): `text` is the file exactly as on disk (UTF-8, no newline
  translation), so offsets are into the raw file;
- converted formats (HTML, PDF, DOCX): `text` is what the reader extracted, deterministically; it is
  stored with the document, keyed by the file's content hash, and served by `GET /documents/{source}`.

`blocks` cover the content of the document in order and never overlap; text outside every block is
not content (markup, page furniture) and is never quoted. Headings carry their level; the section path
of any offset is the chain of headings above it (`section_path`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

BlockKind = Literal["heading", "paragraph", "list_item", "table_row", "code", "html", "other"]
PROSE_KINDS: frozenset[str] = frozenset({"heading", "paragraph", "list_item", "table_row", "other"})


@dataclass(frozen=True)
class Block:
    """One structural unit of the document text: [start, end) offsets, its kind and (headings) level.

    A paragraph may span several lines (hard wraps); a list item, a table row and a heading are units of
    their own. `code` and `html` blocks are kept for context but not quoted as prose."""

    start: int
    end: int
    kind: BlockKind
    level: int = 0  # 1..6 for headings, 0 otherwise


@dataclass(frozen=True)
class Page:
    """A page of a paginated format: 1-based number and its [start, end) span of the document text."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class ParsedDocument:
    """One file, read: its text, format, title and structure. `sha256` is of the file's bytes."""

    source: str
    path: Path
    format: str  # "text" | "markdown" | "rst" | "html" | "pdf" | "docx"
    text: str
    sha256: str
    title: str | None = None
    blocks: tuple[Block, ...] = ()
    pages: tuple[Page, ...] = ()
    converted: bool = False  # True when `text` was extracted (not the file itself)
    meta: dict[str, str] = field(default_factory=dict)  # e.g. author, date from front matter or <meta>

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding `offset`, or None for unpaginated formats."""
        for page in self.pages:
            if page.start <= offset < page.end:
                return page.page
        return self.pages[-1].page if self.pages and offset >= self.pages[-1].end else None

    def section_path(self, offset: int) -> tuple[str, ...]:
        """The heading path (document title first) down to the block holding `offset`."""
        stack: list[tuple[int, str]] = []
        for block in self.blocks:
            if block.start > offset:
                break
            if block.kind == "heading":
                while stack and stack[-1][0] >= block.level:
                    stack.pop()
                label = heading_label(self.text[block.start : block.end])
                if label:
                    stack.append((block.level, label))
        path = [title for _, title in stack]
        if self.title and (not path or path[0] != self.title):
            path.insert(0, self.title)
        return tuple(path)


_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>\n]*>")
_ROLE = re.compile(r":[\w.+-]+:(?=`)")
_INLINE_MARKS = re.compile(r"`+|\*\*|__|(?<!\w)[*_]|[*_](?!\w)")


def heading_label(raw: str) -> str:
    """A heading's words as shown in a section path: one line, without inline markup (links keep their
    text, HTML tags, code ticks, emphasis marks and reST roles go); empty when only markup is left."""
    text = _IMAGE_OR_LINK.sub(r"\1", raw)
    text = _TAG.sub(" ", text)
    text = _ROLE.sub("", text)
    text = _INLINE_MARKS.sub("", text)
    text = " ".join(text.split())
    return text if any(ch.isalnum() for ch in text) else ""
