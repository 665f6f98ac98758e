"""Structure of indented plain text and reStructuredText, found line by line.

Both formats mark structure by line shape and indentation only, so one scanner serves both:

- blank lines separate blocks; a hard wrap inside a paragraph is not a boundary;
- headings: a title line with an underline (and optional overline) of one repeated punctuation
  character (reST adornments, setext-style text); for plain text also man-page section lines (an ALL
  CAPS line at column 0: `DESCRIPTION`, `OPTIONS`) and numbered headings at the margin (`1.2 Title`,
  `Chapter 3. Title`). Levels follow the order in which adornment styles first appear, as in
  docutils; man sections are level 1, numbered headings take their depth;
- list items: bullets (`-`, `*`, `+`, `•`, `1.`, `(a)`, `#.`) with their continuation lines; option
  entries (`-f, --file=ARCHIVE` followed by a more-indented description, or with the description on
  the same line); definition-style entries (a short term line followed by more-indented text); reST
  field lists (`:param x: …`);
- tables: each line of a grid table (`| a | b |`) or a simple table between `===` rules is a row;
  border lines are markup; in plain text also each line of a column-aligned table (three or more
  lines at one indent whose cells, separated by two or more spaces, start at two or more shared
  columns: the examples table of a spec, the units table of a man page);
- code (reST only): the indented block after a paragraph ending in `::`, and the body of the
  `code`, `code-block`, `sourcecode`, `literalinclude`, `highlight` and `doctest` directives; other
  directives (`note`, `versionadded`, …) hold prose, whose lines are scanned as usual; comments and
  directive options are markup.

This is a careful scanner rather than docutils itself: docutils' node line numbers are not reliable
enough to map every block back to exact offsets (paragraph lines point past the paragraph, titles at
their underline, and Sphinx-only directives turn into error nodes), whereas a scanner gives exact spans
by construction.
"""

from __future__ import annotations

import re

from verbatim.ingest.document import Block, BlockKind
from verbatim.ingest.formats.lines import Lines

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")
_BULLET = re.compile(r"^(\s*)(?:[-*+•‣◦]|\d{1,3}[.)]|\(?[a-zA-Z0-9]\)|#\.)\s+(?=\S)")
_OPTION = re.compile(r"^(\s*)(?:--?[A-Za-z0-9?][\w-]*|\+[A-Za-z])(?:[=\s,\[]\S*)*")
_FIELD = re.compile(r"^(\s*):[^:\s][^:]*:(?:\s|$)")
_NUMBERED = re.compile(r"^(?:[A-Z][a-z]+\s+)?(\d+(?:\.\d+)*)\.?\s+\S[^\n]*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::")
_COMMENT = re.compile(r"^(\s*)\.\.(?:\s|$)")
_GRID_BORDER = re.compile(r"^\s*\+[-=+:]+\+\s*$")
_SIMPLE_RULE = re.compile(r"^\s*=+(?:\s+=+)+\s*$")
_CELL_GAP = re.compile(r"\s{2,}(?=\S)")
_COLUMN_ROWS = 3  # lines that make a column-aligned table (two could be prose that happens to align)
_CODE_DIRECTIVES = frozenset({"code", "code-block", "sourcecode", "literalinclude", "highlight", "doctest"})
_TERM_MAX_WORDS = 8
_HEADING_MAX_WORDS = 12
_HEADING_MAX_INDENT = 2  # numbered headings sit at the margin; table-of-contents entries are indented


class Scanner:
    """Blocks of a text file, by line shape. `rst` switches on reST's literal blocks and directives."""

    def __init__(self, text: str, rst: bool) -> None:
        self.lines = Lines.of(text)
        self.rst = rst
        self.styles: list[tuple[str, bool]] = []  # adornment styles in order of appearance
        self.blocks: list[Block] = []

    def scan(self) -> list[Block]:
        n = 0
        while n < len(self.lines):
            n = self._step(n)
        return self.blocks

    # -- one construct at line n; returns the next line to look at ------------------------------------
    def _step(self, n: int) -> int:
        lines = self.lines
        if lines.blank(n):
            return n + 1
        heading = self._heading(n)
        if heading is not None:
            return heading
        line = lines.line(n)
        if self.rst:
            directive = _DIRECTIVE.match(line)
            if directive:
                return self._directive(n, directive.group(2))
            if _COMMENT.match(line):
                return self._skip_indented(n + 1, lines.indent(n))
        if _GRID_BORDER.match(line) or _SIMPLE_RULE.match(line):
            return self._table(n)
        if _ADORNMENT.match(line):
            return n + 1  # a transition (horizontal rule): markup
        if not self.rst:
            end = self._column_table_end(n)
            if end is not None:
                return self._column_rows(n, end)
        if self._item_start(n):
            return self._item(n)
        return self._paragraph(n)

    def _heading(self, n: int) -> int | None:
        lines = self.lines
        line = lines.line(n)
        nxt = lines.line(n + 1) if n + 1 < len(lines) else ""
        over = _ADORNMENT.match(line)
        if over and n + 2 < len(lines) and not lines.blank(n + 1):
            under = _ADORNMENT.match(lines.line(n + 2))
            title = lines.line(n + 1).strip()
            if under and under.group(1) == over.group(1) and len(title) <= len(line.rstrip()):
                self._add_heading(n + 1, self._level(over.group(1), True))
                return n + 3
        under = _ADORNMENT.match(nxt)
        title = line.strip()
        if (
            under
            and not over
            and title
            and lines.indent(n) == lines.indent(n + 1)
            and len(nxt.strip()) >= min(len(title), 3)
            and (n == 0 or lines.blank(n - 1) or self._is_heading_line(n - 1))
        ):
            self._add_heading(n, self._level(under.group(1), False))
            return n + 2
        if not self.rst:
            level = self._plain_heading_level(n)
            if level:
                self._add_heading(n, level)
                return n + 1
        return None

    def _is_heading_line(self, n: int) -> bool:
        return bool(self.blocks) and self.blocks[-1].kind == "heading" and self._last_line_of(n)

    def _last_line_of(self, n: int) -> bool:
        start, end = self.lines.spans[n]
        return self.blocks[-1].start <= end and self.blocks[-1].end >= start - 1

    def _plain_heading_level(self, n: int) -> int:
        """Man-page section lines (level 1) and numbered headings (their depth) in plain text."""
        lines = self.lines
        line = lines.line(n)
        stripped = line.strip()
        words = stripped.split()
        if not words or len(words) > _HEADING_MAX_WORDS or stripped.endswith((".", ",", ";", ":")):
            return 0
        alone = (n == 0 or lines.blank(n - 1)) and (
            n + 1 >= len(lines) or lines.blank(n + 1) or (lines.indent(n + 1) > lines.indent(n))
        )
        letters = [ch for ch in stripped if ch.isalpha()]
        if (
            alone
            and lines.indent(n) == 0
            and len(letters) >= 2
            and all(ch.isupper() for ch in letters)
            and not _OPTION.match(line)
        ):
            return 1
        numbered = _NUMBERED.match(stripped)
        if numbered and alone and lines.indent(n) <= _HEADING_MAX_INDENT:
            return min(numbered.group(1).count(".") + 1, 6)
        return 0

    def _level(self, char: str, overline: bool) -> int:
        style = (char, overline)
        if style not in self.styles:
            self.styles.append(style)
        return min(self.styles.index(style) + 1, 6)

    def _add_heading(self, n: int, level: int) -> None:
        block = self.lines.block(n, n, "heading", level)
        if block is not None:
            self.blocks.append(block)

    # -- reST directives ------------------------------------------------------------------------------
    def _directive(self, n: int, name: str) -> int:
        lines = self.lines
        indent = lines.indent(n)
        if name.lower() in _CODE_DIRECTIVES:
            return self._skip_indented(n + 1, indent, kind="code")
        # Options (":name: value") right under the directive are markup; the body is scanned as usual.
        m = n + 1
        while m < len(lines) and not lines.blank(m) and lines.indent(m) > indent:
            if not _FIELD.match(lines.line(m)):
                break
            m += 1
        if m == n + 1:
            # Arguments on the directive line (".. note:: Text") are prose.
            start, end = lines.spans[n]
            marker = re.match(r"\s*\.\.\s+[\w:-]+::\s*", lines.text[start:end])
            offset = marker.end() if marker else 0
            block = lines.block_span(start + offset, end, "paragraph")
            if block is not None and name.lower() not in ("image", "figure", "include", "toctree"):
                self.blocks.append(block)
        if name.lower() in ("image", "figure", "include", "toctree", "raw", "only", "autoclass"):
            return self._skip_indented(m, indent)
        return m

    def _skip_indented(self, n: int, indent: int, kind: BlockKind | None = None) -> int:
        """Lines indented more than `indent` (blank lines inside allowed) from line n; as one block of
        `kind` when given (literal and code blocks), else markup."""
        lines = self.lines
        last = n - 1
        m = n
        while m < len(lines) and (lines.blank(m) or lines.indent(m) > indent):
            if not lines.blank(m):
                last = m
            m += 1
        if kind is not None:
            first = n
            # Directive options (":linenos:") before the code are markup.
            while first <= last and (lines.blank(first) or _FIELD.match(lines.line(first))):
                first += 1
            block = lines.block(first, last, kind)
            if block is not None:
                self.blocks.append(block)
        return last + 1

    # -- tables, list items, paragraphs ----------------------------------------------------------------
    def _table(self, n: int) -> int:
        lines = self.lines
        m = n
        while m < len(lines) and not lines.blank(m):
            line = lines.line(m)
            if not (_GRID_BORDER.match(line) or _SIMPLE_RULE.match(line) or _ADORNMENT.match(line)):
                start = lines.spans[m][0]
                stripped = line.strip()
                offset = line.index(stripped) if stripped else 0
                lo, hi = start + offset, start + offset + len(stripped)
                if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
                    lo, hi = lo + 1, hi - 1
                block = lines.block_span(lo, hi, "table_row")
                if block is not None:
                    self.blocks.append(block)
            m += 1
        # A simple table ends with a rule after its rows; a blank line ends a grid table.
        return m

    def _cell_starts(self, n: int) -> set[int]:
        """Columns where a cell after the first begins (after a gap of two or more spaces)."""
        line = self.lines.line(n).rstrip()
        if "|" in line:  # a bordered table: its rows can span lines, left to the paragraph rules
            return set()
        indent = self.lines.indent(n)
        return {m.end() for m in _CELL_GAP.finditer(line) if m.start() > indent}

    def _column_table_end(self, n: int) -> int | None:
        """The line after a column-aligned table starting at line n, or None if none starts there: its
        first three lines each share two cell columns with the line before, later rows one, within the
        columns seen (a cell with a single space inside, "UJIS (or EUC-J) /usr/…", hides one gap).
        Justified prose also has double spaces, but not at the same columns three lines running."""
        lines = self.lines
        previous = self._cell_starts(n)
        seen = set(previous)
        m = n + 1
        while m < len(lines) and not lines.blank(m) and lines.indent(m) == lines.indent(n):
            starts = self._cell_starts(m)
            shared = len(starts & previous)
            if not (shared >= 2 or (m - n >= _COLUMN_ROWS and shared >= 1 and starts <= seen)):
                break
            previous, m = starts, m + 1
            seen |= starts
        return m if m - n >= _COLUMN_ROWS else None

    def _column_rows(self, n: int, end: int) -> int:
        for m in range(n, end):
            start, stop = self.lines.spans[m]
            block = self.lines.block_span(start, stop, "table_row")
            if block is not None:
                self.blocks.append(block)
        return end

    def _item_start(self, n: int) -> bool:
        lines = self.lines
        line = lines.line(n)
        if _BULLET.match(line) or (self.rst and _FIELD.match(line)):
            return True
        if _OPTION.match(line):
            return True
        # A short term followed directly by more-indented text (definition lists, man-page entries).
        words = line.split()
        return (
            0 < len(words) <= _TERM_MAX_WORDS
            and n + 1 < len(lines)
            and not lines.blank(n + 1)
            and lines.indent(n + 1) > lines.indent(n)
            and not line.rstrip().endswith((".", "::"))
        )

    def _item(self, n: int) -> int:
        lines = self.lines
        indent = lines.indent(n)
        bullet = _BULLET.match(lines.line(n))
        m = n + 1
        while m < len(lines) and not lines.blank(m):
            deeper = lines.indent(m) > indent
            if not deeper or (bullet is None and self._new_bullet(m)) or self._nested_item(m, indent):
                break
            m += 1
        skip = len(bullet.group(0)) - len(bullet.group(1)) if bullet else 0
        block = lines.block(n, m - 1, "list_item", 0, skip)
        if block is not None:
            self.blocks.append(block)
        return self._literal_after(n, m)

    def _new_bullet(self, m: int) -> bool:
        """Line m starts a list item; a wrapped line that happens to start with "0. " or "2) " does not
        (the line before it ends mid-sentence)."""
        match = _BULLET.match(self.lines.line(m))
        if match is None:
            return False
        marker = self.lines.line(m)[len(match.group(1)) :].lstrip()[:1]
        if marker.isalnum() or marker == "(":
            return self.lines.line(m - 1).rstrip().endswith((".", ":", ";", "!", "?", ")"))
        return True

    def _nested_item(self, m: int, indent: int) -> bool:
        return self._new_bullet(m) and self.lines.indent(m) > indent and self.lines.indent(m - 1) <= indent

    def _paragraph(self, n: int) -> int:
        lines = self.lines
        m = n + 1
        while m < len(lines) and not lines.blank(m):
            if self._new_bullet(m) or _ADORNMENT.match(lines.line(m)):
                break
            if self.rst and (_DIRECTIVE.match(lines.line(m)) or _FIELD.match(lines.line(m))):
                break
            if lines.indent(m) < lines.indent(n) and self._item_start(m):
                break
            if not self.rst and self._column_table_end(m) is not None:
                break  # "Various examples:" then the table's rows
            m += 1
        if m < len(lines) and _ADORNMENT.match(lines.line(m)) and m == n + 1:
            m += 1  # an adornment that is not a title underline (too short): part of this text
        block = lines.block(n, m - 1, "paragraph")
        if block is not None:
            self.blocks.append(block)
        return self._literal_after(n, m)

    def _literal_after(self, n: int, m: int) -> int:
        """reST: a block ending in `::` introduces an indented literal block (code)."""
        if not self.rst or not self.lines.line(m - 1).rstrip().endswith("::"):
            return m
        indent = self.lines.indent(n)
        k = m
        while k < len(self.lines) and self.lines.blank(k):
            k += 1
        if k < len(self.lines) and self.lines.indent(k) > indent:
            return self._skip_indented(k, indent, kind="code")
        return m
