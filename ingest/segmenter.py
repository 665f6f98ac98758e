"""Split a cleaned page into articles, each with a title and, where the page says, an author and a date.

General page shapes, not site rules:
- a byline ("By Jane Doe") starts an article; the heading just above it is its title;
- a run of at least three "heading + one paragraph" sections is a listing (teasers, search results):
  each section is its own article;
- otherwise the document is one article whose title is its first heading.
An article with no heading is titled by its first sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from verbatim.ingest.cleaner import CleanResult, is_date_line
from verbatim.ingest.sentences import sentence_spans

_BYLINE = re.compile(
    r"^\s*(?:by|written by|author:?)\s+((?:(?:dr|prof|mr|mrs|ms)\.?\s+)?"
    r"[A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*){0,4})\s*$",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(\d{1,2}\s+(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{4}|(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{1,2},\s+\d{4}|\d{4}-\d{2}-\d{2})\b"
)
HEADING_MAX_WORDS = 20
HEADING_MAX_CHARS = 160
LISTING_MIN_SECTIONS = 3
TITLE_MAX_CHARS = 120


@dataclass(frozen=True)
class Block:
    """One kept line of the page, typed by its shape."""

    start: int
    end: int
    kind: str  # heading | byline | date | body


@dataclass(frozen=True)
class Article:
    """A contiguous span of the raw file holding one article."""

    title: str
    author: str | None
    date: str | None
    start: int
    end: int


def classify(text: str) -> str:
    """The shape of one kept line."""
    if _BYLINE.match(text):
        return "byline"
    if is_date_line(text):
        return "date"
    stripped = text.strip()
    words = stripped.split()
    if (
        len(words) <= HEADING_MAX_WORDS
        and len(stripped) <= HEADING_MAX_CHARS
        and not stripped.endswith((".", ",", ";", ":", "…"))
        and (stripped[0].isupper() or stripped[0].isdigit() or stripped[0] in "“\"'‘")
    ):
        return "heading"
    return "body"


def blocks_of(clean: CleanResult) -> list[Block]:
    """Kept lines as typed blocks (a line with a dropped placeholder inside stays one block)."""
    blocks: list[Block] = []
    for line in clean.lines:
        if not line.kept:
            continue
        pieces = [(s, e) for s, e in clean.kept if line.start <= s and e <= line.end]
        if pieces:
            start, end = pieces[0][0], pieces[-1][1]
            blocks.append(Block(start, end, classify(clean.text[start:end])))
    return blocks


def segment(clean: CleanResult) -> list[Article]:
    """Articles of a cleaned document, in page order; pages with no body text have none."""
    text = clean.text
    blocks = blocks_of(clean)
    starts = _article_starts(blocks)
    page_date = (
        next((_date_in(text, b) for b in blocks[: starts[0]] if b.kind == "date"), None) if starts else None
    )
    articles: list[Article] = []
    for n, first in enumerate(starts):
        last = (starts[n + 1] if n + 1 < len(starts) else len(blocks)) - 1
        group = blocks[first : last + 1]
        if not any(b.kind == "body" for b in group):
            continue
        articles.append(_article(text, group, page_date))
    return articles


def _article_starts(blocks: list[Block]) -> list[int]:
    if not blocks:
        return []
    starts = {_first_content(blocks)}
    for i, block in enumerate(blocks):
        if block.kind == "byline":
            j = i
            # The title (and a dateline) sit just above the byline, after the previous article's text.
            while j > 0 and blocks[j - 1].kind in ("heading", "date") and i - j < 3:
                j -= 1
            starts.add(j)
    starts |= _listing_starts(blocks)
    ordered = sorted(starts)
    # Drop a start that would leave the previous article without body text (byline after a heading run).
    merged: list[int] = []
    for s in ordered:
        if merged and not any(b.kind == "body" for b in blocks[merged[-1] : s]):
            continue
        merged.append(s)
    return merged


def _first_content(blocks: list[Block]) -> int:
    for i, block in enumerate(blocks):
        if block.kind in ("heading", "body", "byline"):
            return i
    return 0


def _listing_starts(blocks: list[Block]) -> set[int]:
    """Headings of runs of ≥3 "heading + exactly one paragraph" sections."""
    sections: list[tuple[int, int]] = []  # (heading index, body count)
    for i, block in enumerate(blocks):
        if block.kind == "heading":
            sections.append((i, 0))
        elif block.kind == "body" and sections:
            sections[-1] = (sections[-1][0], sections[-1][1] + 1)
        elif block.kind == "byline":
            sections.append((-1, 99))  # a byline breaks a listing run
    starts: set[int] = set()
    run: list[int] = []
    for heading, bodies in [*sections, (-1, 0)]:
        if heading >= 0 and bodies == 1:
            run.append(heading)
            continue
        if len(run) >= LISTING_MIN_SECTIONS:
            starts.update(run)
        run = []
    return starts


def _article(text: str, group: list[Block], page_date: str | None) -> Article:
    body_index = next(i for i, b in enumerate(group) if b.kind == "body")
    header = group[:body_index]
    heading = next((b for b in header if b.kind == "heading"), None)
    byline = next((b for b in group[: body_index + 2] if b.kind == "byline"), None)
    dateline = next((b for b in header if b.kind == "date"), None)
    if heading is not None:
        title = text[heading.start : heading.end].strip()
    else:
        title = _title_from_lead(text, group[body_index])
    author = None
    if byline is not None:
        match = _BYLINE.match(text[byline.start : byline.end])
        author = match.group(1).strip() if match else None
    date = _date_in(text, dateline) if dateline else page_date
    return Article(title=title, author=author, date=date, start=group[0].start, end=group[-1].end)


def _title_from_lead(text: str, body: Block) -> str:
    spans = sentence_spans(text, body.start, body.end)
    first = text[spans[0][0] : spans[0][1]] if spans else text[body.start : body.end]
    if len(first) <= TITLE_MAX_CHARS:
        return first.rstrip(".")
    cut = first[:TITLE_MAX_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def _date_in(text: str, block: Block) -> str | None:
    match = _DATE.search(text, block.start, block.end)
    return match.group(1) if match else None
