"""Decide which spans of a document are content, by general rules; the text is never rewritten.

Every rule works on any document: it looks at the shape of units (repetition, length, link-like runs,
known boilerplate phrases), never at the words of one particular site. A unit is a line for text read
without structure (scraped pages), or a block of the reader's structure.

The rules never eat content:
- the first copy of repeated text is kept (only tickers and labels that are not sentences, in pages
  without structure, are dropped in every copy: they are page furniture);
- headings, list items, table rows and code blocks of a structured document are never dropped; HTML
  blocks are markup and always dropped (never quoted, never a title);
- keyword rules ("cookies", "read more", "(c)" credits) apply only to short, navigation-shaped lines,
  or to a sentence standing among navigation; never to the body's prose (a paragraph over several
  lines, a sentence among sentences). In a structured document only link-sized paragraphs can be
  navigation, and runs of short lines are not menus (they are option tables, version notes, terms).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from verbatim.ingest.document import Block

REPEATED = "repeated line"
DUPLICATE = "duplicate of earlier text"
PHOTO_CREDIT = "photo credit or caption"
NAVIGATION = "navigation or newsletter"
PAGINATION = "pagination"
ANTI_SPAM = "anti-spam placeholder"
FOOTER = "footer boilerplate"
MARKUP = "markup (HTML block)"
PROTECTED_KINDS = frozenset({"heading", "list_item", "table_row", "code"})

_SPACE = re.compile(r"\s+")
_PHOTO = re.compile(
    r"©|\(c\)\s|^\s*(photo|image|picture|credit|source)s?\s*:|[;,|]\s*(photo|image|credit)s?\s*:"
    r"|\b(shutterstock|getty images|istock|wikimedia commons|alamy)\b",
    re.IGNORECASE,
)
_PAGINATION = re.compile(
    r"^\s*((viewing|showing|displaying)\s+(results\s+|items\s+)?\d+\s*[-–—]\s*\d+\s+of\s+\d+"
    r"|page\s+\d+\s+of\s+\d+|(«\s*)?(prev(ious)?|next)(\s*»)?)\s*$",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"\b(newsletter|sign up|subscribe|follow us|share (this|on)|visit also|view more articles|read more"
    r"|related (articles|posts|stories)|all rights reserved|cookies?|log ?in|privacy policy)\b"
    r"|^\s*(tags?|categor(y|ies)|filed under|share)\s*:",
    re.IGNORECASE,
)
_ANTI_SPAM = re.compile(
    r"This email address is being protected from spambots\.?\s*You need JavaScript enabled to view it\.?"
    r"|\[email(?:&#160;|\s|\u00a0)protected\]|\[\s*at\s*\]\s*\w+\s*\[\s*dot\s*\]",
    re.IGNORECASE,
)
_DATE_ONLY = re.compile(
    r"^\s*(\w+day,?\s+)?(\d{1,2}\s+[A-Z][a-z]+\.?\s+\d{4}|[A-Z][a-z]+\.?\s+\d{1,2},?\s+\d{4}|\d{4}-\d{2}-\d{2})\s*$"
)

REPEAT_MIN_COUNT = 3  # a line seen this often is page furniture (tickers, menus, labels)
REPEAT_MAX_CHARS = 200  # long paragraphs repeated are handled as duplicates, not furniture
DUPLICATE_MIN_CHARS = 25  # shorter lines ("Newsletter", a name) may legitimately recur
LINK_MAX_WORDS = 3
LINK_RUN_MIN = 3
FOOTER_MAX_WORDS = 80
SENTENCE_MIN_WORDS = 6


@dataclass(frozen=True)
class Dropped:
    """A span judged not to be content, with the rule that dropped it."""

    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class Line:
    """One line of the raw file (without its newline) and the decision about it."""

    start: int
    end: int
    text: str
    reason: str | None = None  # None = kept; "" = blank
    kind: str = "line"  # "line" (no structure) or the block kind of a structured document

    @property
    def blank(self) -> bool:
        return self.reason == ""

    @property
    def kept(self) -> bool:
        return self.reason is None


@dataclass
class CleanResult:
    """Kept pieces (raw spans) and dropped spans of one document."""

    text: str
    lines: list[Line]
    kept: list[tuple[int, int]]
    dropped: list[Dropped] = field(default_factory=list)

    def dropped_chars(self) -> dict[str, int]:
        """Characters dropped per reason (for the ingest report)."""
        totals: Counter[str] = Counter()
        for span in self.dropped:
            totals[span.reason] += span.end - span.start
        return dict(totals)


def normalise(line: str) -> str:
    """Comparison key for repetition: case, spacing and surrounding punctuation ignored."""
    return _SPACE.sub(" ", line).strip(" \t\u00a0•·-–—*|").lower()


def split_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line, newline excluded; handles \\n, \\r\\n and \\r."""
    spans = []
    for match in re.finditer(r"[^\r\n]*(\r\n|\r|\n|$)", text):
        if match.start() == len(text) and not match.group(0):
            break
        spans.append((match.start(), match.start() + len(match.group(0).rstrip("\r\n"))))
    return spans


def is_date_line(line: str) -> bool:
    """A dateline such as "05 December 2025" (kept: the segmenter reads dates from it)."""
    return bool(_DATE_ONLY.match(line))


def _link_like(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= LINK_MAX_WORDS
        and len(line.strip()) <= 40
        and not line.rstrip().endswith((".", "!", "?", ":", ","))
        and not is_date_line(line)
    )


def clean(text: str, blocks: Sequence[Block] = ()) -> CleanResult:
    """Classify every unit of `text` (its lines, or the reader's blocks) and return the kept raw spans."""
    kinds: list[str]
    if blocks:
        spans = [(b.start, b.end) for b in blocks]
        kinds = [b.kind for b in blocks]
    else:
        spans = split_lines(text)
        kinds = ["line"] * len(spans)
    raw = [text[s:e] for s, e in spans]
    keys = [normalise(line) for line in raw]
    counts = Counter(k for k in keys if k)
    protected = [k in PROTECTED_KINDS for k in kinds]
    # Prose of the body: a paragraph over several lines, or a sentence (keyword rules do not judge it).
    body = [k == "paragraph" and "\n" in t.strip() for k, t in zip(kinds, raw, strict=True)]
    sentence = [b or _sentence_shaped(t) for b, t in zip(body, raw, strict=True)]
    reasons: list[str | None] = []
    for i, (line, key) in enumerate(zip(raw, keys, strict=True)):
        if kinds[i] == "html":
            reasons.append(MARKUP)
        elif protected[i]:
            reasons.append(None if any(ch.isalnum() for ch in key) else "")
        else:
            reasons.append(_line_rule(line, key, counts, sentence[i], bool(blocks)))
    if not blocks:  # page debris: a structured document's short paragraphs are not menus or footers
        _sentences_among_navigation(raw, reasons, sentence, body)
        _drop_link_runs(raw, reasons, protected)
        _drop_footer_sandwiches(raw, reasons, body)
    _drop_duplicates(keys, reasons, protected)

    lines = [Line(s, e, t, r, k) for (s, e), t, r, k in zip(spans, raw, reasons, kinds, strict=True)]
    kept: list[tuple[int, int]] = []
    dropped: list[Dropped] = []
    for row in lines:
        if row.reason:
            start, end = _trim(text, row.start, row.end)
            if end > start:
                dropped.append(Dropped(start, end, row.reason))
        elif row.kept:
            _split_anti_spam(text, row, kept, dropped)
    return CleanResult(text=text, lines=lines, kept=kept, dropped=dropped)


def _sentence_shaped(line: str) -> bool:
    """A line that reads as a sentence of prose, not a label or a link."""
    stripped = line.strip()
    return len(stripped.split()) >= SENTENCE_MIN_WORDS and stripped.endswith(
        (".", "!", "?", ".)", ".”", '."', "!”", "?”")
    )


def _line_rule(line: str, key: str, counts: Counter[str], sentence: bool, structured: bool) -> str | None:
    if not key or not any(ch.isalnum() for ch in key):
        return ""
    # Furniture repeated in every copy (tickers, labels) only in pages without structure; the first
    # copy of a sentence, or of anything in a structured document, is kept (`_drop_duplicates`).
    furniture = not sentence and not structured
    if furniture and counts[key] >= REPEAT_MIN_COUNT and len(key) <= REPEAT_MAX_CHARS:
        return REPEATED
    if _PAGINATION.match(line):
        return PAGINATION
    if sentence or (structured and not _link_like(line)):
        # Keyword rules never judge a sentence of the body (see _sentences_among_navigation), nor, in a
        # structured document, anything longer than a link ("Read more", "Cookies", "Share this").
        return None
    words = len(line.split())
    if words <= 25 and _PHOTO.search(line):
        return PHOTO_CREDIT
    if words <= 20 and _BOILERPLATE.search(line):
        return NAVIGATION
    return None


def _sentences_among_navigation(
    raw: list[str], reasons: list[str | None], sentence: list[bool], body: list[bool]
) -> None:
    """A short boilerplate sentence ("Sign up for our newsletter.") next to navigation is navigation."""
    order = _nonblank_indices(reasons)
    for pos, i in enumerate(order):
        if reasons[i] is not None or not sentence[i] or body[i] or len(raw[i].split()) > 20:
            continue
        if not _BOILERPLATE.search(raw[i]):
            continue
        neighbours = [order[p] for p in (pos - 1, pos + 1) if 0 <= p < len(order)]
        if any(reasons[j] == NAVIGATION for j in neighbours):
            reasons[i] = NAVIGATION


def _nonblank_indices(reasons: list[str | None]) -> list[int]:
    return [i for i, r in enumerate(reasons) if r != ""]


def _drop_link_runs(raw: list[str], reasons: list[str | None], protected: list[bool]) -> None:
    """Runs of short link-like lines (menus, "Visit also" lists) are navigation; list items, headings
    and table rows of a structured document are content, and break a run."""
    order = _nonblank_indices(reasons)
    run: list[int] = []
    for idx in [*order, -1]:
        linky = idx >= 0 and not protected[idx] and reasons[idx] is None and _link_like(raw[idx])
        if idx >= 0 and (reasons[idx] == NAVIGATION or linky):
            run.append(idx)
            continue
        if len(run) >= LINK_RUN_MIN and any(reasons[i] is None for i in run):
            for i in run:
                reasons[i] = NAVIGATION
        run = []


def _drop_footer_sandwiches(raw: list[str], reasons: list[str | None], body: list[bool]) -> None:
    """A short paragraph between two blocks of navigation is site boilerplate ("X is a publication of…")."""
    order = _nonblank_indices(reasons)
    for pos in range(1, len(order) - 1):
        i = order[pos]
        short = reasons[i] is None and not body[i] and len(raw[i].split()) <= FOOTER_MAX_WORDS
        if short and reasons[order[pos - 1]] == NAVIGATION and reasons[order[pos + 1]] == NAVIGATION:
            reasons[i] = FOOTER


def _drop_duplicates(keys: list[str], reasons: list[str | None], protected: list[bool]) -> None:
    """A second copy of a unit already kept (a page that holds its article twice) is dropped; the first
    copy always stays, and headings, list items, table rows and code stay in every copy."""
    seen: set[str] = set()
    repeated_short: set[int] = set()
    for i, key in enumerate(keys):
        if reasons[i] is not None or protected[i]:
            continue
        if key in seen:
            if len(key) >= DUPLICATE_MIN_CHARS:
                reasons[i] = DUPLICATE
            else:
                repeated_short.add(i)
        seen.add(key)
    _extend_duplicate_runs(reasons, repeated_short)


def _extend_duplicate_runs(reasons: list[str | None], repeated_short: set[int]) -> None:
    """Short lines (a title, a name) seen before and touching a duplicated line belong to the copy."""
    order = _nonblank_indices(reasons)
    changed = True
    while changed:
        changed = False
        for pos, i in enumerate(order):
            if i not in repeated_short or reasons[i] is not None:
                continue
            prev_dup = pos > 0 and reasons[order[pos - 1]] == DUPLICATE
            next_dup = pos + 1 < len(order) and reasons[order[pos + 1]] == DUPLICATE
            if prev_dup or next_dup:
                reasons[i] = DUPLICATE
                changed = True


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_anti_spam(text: str, line: Line, kept: list[tuple[int, int]], dropped: list[Dropped]) -> None:
    cursor = line.start
    for match in _ANTI_SPAM.finditer(text, line.start, line.end):
        _keep_piece(text, cursor, match.start(), kept)
        dropped.append(Dropped(match.start(), match.end(), ANTI_SPAM))
        cursor = match.end()
    _keep_piece(text, cursor, line.end, kept)


def _keep_piece(text: str, start: int, end: int, kept: list[tuple[int, int]]) -> None:
    start, end = _trim(text, start, end)
    if end > start and any(ch.isalnum() for ch in text[start:end]):
        kept.append((start, end))
