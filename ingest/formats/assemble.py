"""Building a converted document's text from extracted blocks, so every block's offsets are known exactly.

Converted formats (HTML, PDF, DOCX) have no text of their own to point into: the reader lays the blocks
out as plain text — headings and paragraphs separated by a blank line, list items and table rows of one
list or table on consecutive lines — and records each block's span as it goes. The result is a pure
function of the blocks, so extraction stays deterministic.
"""

from __future__ import annotations

import re

from verbatim.ingest.document import Block, BlockKind, Page

_SPACES = re.compile(r"[^\S\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")
_BLANK_LINES = re.compile(r"\n[^\S\n]*\n(?:[^\S\n]*\n)+")


def inline(text: str) -> str:
    """Text of an inline run: whitespace (line breaks included) collapsed, as a browser shows it."""
    return " ".join(_CONTROL.sub("", text).split())


def tidy_lines(text: str) -> str:
    """Text whose line breaks matter (code, PDF lines): control characters and trailing spaces removed,
    runs of blank lines made one, no leading or trailing blank lines."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip("\n")


class TextBuilder:
    """Appends blocks to a growing text and records their spans (and pages, for paginated formats)."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.blocks: list[Block] = []
        self.pages: list[Page] = []
        self._group: object = None  # consecutive list items / table rows of one group share a line break
        self._page_start: int | None = None
        self._page_fresh = False  # at the start of a page: its separator is already written

    @property
    def length(self) -> int:
        return self._length

    def add(self, text: str, kind: BlockKind, level: int = 0, group: object = None) -> None:
        """Add one block; `group` ties list items or table rows that go on consecutive lines."""
        if kind in ("list_item", "table_row") and group is None:
            group = kind
        text = text.strip("\n") if kind == "code" else text.strip()
        if not text:
            return
        if self._length and not self._page_fresh:
            joined = group is not None and group == self._group
            self._write("\n" if joined else "\n\n")
        self._page_fresh = False
        start = self._length
        self._write(text)
        self.blocks.append(Block(start, self._length, kind, level))
        self._group = group

    def break_group(self) -> None:
        """The next list item or table row starts a new group (after a blank line)."""
        self._group = None

    def start_page(self) -> None:
        self._group = None
        if self._length:
            self._write("\n\n")
        self._page_start = self._length
        self._page_fresh = True

    def end_page(self, number: int) -> None:
        start = self._page_start if self._page_start is not None else self._length
        self.pages.append(Page(number, start, self._length))
        self._page_start = None
        self._page_fresh = False

    def text(self) -> str:
        return "".join(self._parts)

    def _write(self, piece: str) -> None:
        self._parts.append(piece)
        self._length += len(piece)
