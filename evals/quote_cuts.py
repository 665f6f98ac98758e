"""Is a quote cut inside a sentence? Judged on the document text alone, with no help from the system.

A quote is the span `text[start:end]` of a document. Users should see whole sentences, list items,
table rows or headings as the document has them, never a fragment that starts or stops in the middle
of a sentence, in particular not at the line break of a hard-wrapped paragraph. Definitions (the
module's tests pin each rule on synthetic text):

**The start is clean** when one of these holds:

1. only whitespace precedes it in the document;
2. whitespace precedes it and the text before that whitespace ends a sentence: `.`, `!` or `?`,
   optionally followed by closing quotes or brackets (`”"’')]`), or a colon that ends its line (a
   lead-in such as "The options are:");
3. the whitespace before it holds a blank line (a paragraph break);
4. the whitespace before it holds a line break and the quote's line starts a block: a list marker
   (`-`, `*`, `+`, `•`, `1.`, `1)`, `(a)`), a heading (`#`), a table row (`|`), a quote (`>`), a code
   fence, or the line is indented differently from the previous line (the body of a definition list
   in a man page, the paragraph after it), other than to the text column of a list item above (that
   is the item's wrapped line);
5. the whitespace before it holds a line break and the previous line is a block of its own: a
   heading (`#`), a setext or reST underline (a line of `=-~^*+#"` only), a table row or a code fence;
6. only a block marker precedes it on its line (the text of a list item after its `- `, of a heading
   after its `## `).

**The end is clean** when, with trailing whitespace of the quote ignored, one of these holds:

1. only whitespace follows it in the document;
2. the quote ends a sentence (`.`, `!`, `?`, optionally followed by closers, or a colon) and the
   document continues with whitespace or ends (so "3." cut out of "3.5" is not clean);
3. the whitespace after it holds a blank line (the paragraph, list item or heading ends there);
4. the whitespace after it holds a line break and the next line starts a block (rule 4 of the start,
   seen from above: a marker, a heading, a table row, a fence, or a change of indentation other than
   a list item's wrapped line), or the
   next line is an underline (the quote was a heading), or the quote's last line is a table row
   (`|`, or a row of a column-aligned table: it and the next line have cells, after gaps of two or
   more spaces, starting at a shared column; the same rule marks a start clean).

A document that is not hard-wrapped (most of its lines of 40 characters or more are longer than 100:
web pages and DOCX read as one line per paragraph, unwrapped Markdown) has no line break inside a
paragraph, so there every line break is a block boundary: a quote that starts after a caption, a
"Note" label or a title line without punctuation, or ends at the end of its line, is whole.

Everything else is a cut: a quote that starts or stops mid-line inside a sentence, and one that stops
at a line break while the same paragraph goes on with the sentence on the next line. Known blind spots,
accepted: an abbreviation such as "e.g." followed by a space counts as a sentence end, and in a
paragraph whose first line is indented, a quote starting on the second line (or ending on the
first) counts as a block boundary; two lines of justified prose whose double spaces happen to share
a column count as table rows. All of these can only under-count cuts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_CLOSERS = "”\"’')]»"
_SENTENCE_END = re.compile(r"(?:[.!?][" + re.escape(_CLOSERS) + r"]*|:)$")
_BLOCK_START = re.compile(
    r"[ \t]*(?:[-*+•](?:\s|$)|\d{1,3}[.)](?:\s|$)|\([a-zA-Z0-9]{1,3}\)\s|#|\||>|```|~~~)"
)
_UNDERLINE = re.compile(r"[ \t]*([=\-~^*+#\"])\1{2,}[ \t]*$")
_OWN_BLOCK_LINE = re.compile(r"[ \t]*(?:#|\||```|~~~)")
_LIST_MARKER = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)]|\([a-zA-Z0-9]{1,3}\))[ \t]+")
_CELL_GAP = re.compile(r" {2,}(?=\S)")
_MARKER_ONLY = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)]|\([a-zA-Z0-9]{1,3}\)|#{1,6}|>)[ \t]+$")


@dataclass(frozen=True)
class CutReport:
    """Where a quote is cut: `start_cut` / `end_cut`, and a short reason for each cut side."""

    start_cut: bool
    end_cut: bool
    reason: str = ""

    @property
    def cut(self) -> bool:
        return self.start_cut or self.end_cut


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _gap_columns(line: str) -> set[int]:
    """Columns where text resumes after a gap of two or more spaces inside the line (table cells)."""
    indent = _indent(line)
    return {m.end() for m in _CELL_GAP.finditer(line.rstrip()) if m.start() > indent}


def _aligned_rows(a: str, b: str) -> bool:
    """Two lines of a column-aligned table: cells start at a shared column, and one of the lines has
    at least three cells."""
    ca, cb = _gap_columns(a), _gap_columns(b)
    return bool(ca & cb) and max(len(ca), len(cb)) >= 2


def _content_column(line: str) -> int:
    """Where a line's text starts: after the indentation, and after a list marker (the column a
    list item's wrapped lines are indented to)."""
    marker = _LIST_MARKER.match(line)
    return marker.end() if marker else _indent(line)


def _line_at(text: str, offset: int) -> str:
    """The whole line holding `offset` (without its newline)."""
    begin = text.rfind("\n", 0, offset) + 1
    stop = text.find("\n", offset)
    return text[begin : len(text) if stop == -1 else stop]


@lru_cache(maxsize=64)
def hard_wrapped(text: str) -> bool:
    """Whether the text's paragraphs are broken into lines: most lines of 40 characters or more are at
    most 100 long (a wrap column), rather than whole paragraphs of any length. A text without such
    lines is taken as wrapped (line breaks then count only by the rules above: never fewer cuts)."""
    long = [len(line.rstrip()) for line in text.split("\n") if len(line.rstrip()) >= 40]
    return not long or sum(n <= 100 for n in long) >= 0.6 * len(long)


def _start_clean(text: str, start: int) -> bool:
    before = text[:start]
    kept = before.rstrip()
    gap = before[len(kept) :]
    if not kept:
        return True
    if _MARKER_ONLY.match(before[before.rfind("\n") + 1 :]):
        return True
    if not gap:
        return False
    if gap.count("\n") >= 2:  # blank line
        return True
    if _SENTENCE_END.search(kept) and (not kept.endswith(":") or "\n" in gap):
        return True
    if "\n" not in gap:
        return False
    if not hard_wrapped(text):
        return True
    line = _line_at(text, start)
    previous = _line_at(text, len(kept) - 1)
    shifted = _indent(line) not in (_indent(previous), _content_column(previous))
    if _BLOCK_START.match(line) or shifted or _aligned_rows(previous, line):
        return True
    return bool(_UNDERLINE.match(previous) or _OWN_BLOCK_LINE.match(previous))


def _end_clean(text: str, end: int, start: int) -> bool:
    quote = text[start:end].rstrip()
    stop = start + len(quote)
    after = text[stop:]
    rest = after.lstrip()
    gap = after[: len(after) - len(rest)]
    if not rest:
        return True
    if _SENTENCE_END.search(quote) and gap and (not quote.endswith(":") or "\n" in gap):
        return True
    if "\n" not in gap:
        return False
    if gap.count("\n") >= 2 or not hard_wrapped(text):
        return True
    last = _line_at(text, max(start, stop - 1))
    following = _line_at(text, stop + len(gap))
    shifted = _indent(following) not in (_indent(last), _content_column(last))
    if _BLOCK_START.match(following) or shifted or _aligned_rows(last, following):
        return True
    return bool(_UNDERLINE.match(following) or _OWN_BLOCK_LINE.match(last))


def quote_cut(text: str, start: int, end: int) -> CutReport:
    """Whether `text[start:end]` starts or ends inside a sentence (see the module docstring)."""
    if not 0 <= start < end <= len(text):
        raise ValueError(f"span [{start}, {end}) is not inside a text of length {len(text)}")
    lead = len(text[start:end]) - len(text[start:end].lstrip())
    start_cut = not _start_clean(text, start + lead)
    end_cut = not _end_clean(text, end, start + lead)
    reasons = []
    if start_cut:
        reasons.append(f"starts inside a sentence: …{text[max(0, start - 30) : start]!r}|")
    if end_cut:
        reasons.append(f"ends inside a sentence: |{text[end : end + 30]!r}…")
    return CutReport(start_cut, end_cut, "; ".join(reasons))
