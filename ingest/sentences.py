"""Sentence boundaries with raw character offsets (quotes are whole sentences, never cut mid-word)."""

from __future__ import annotations

import re

# Tokens that end with a period but rarely end a sentence.
_ABBREVIATIONS = frozenset(
    """
    a.m approx apr aug capt co col corp dec dr e.g e.u etc feb fig gen gov i.e inc jan jr jul jun lt
    ltd mar mr mrs ms mt no nos nov oct p.m ph.d pres prof rep sen sep sept sgt sr st u.k u.n u.s
    vol vs
    """.split()
)
_CANDIDATE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+)|\n\s*\n|\n")
_CANDIDATE_WRAPPED = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+)|\n[ \t]*\n")
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?…]*[\"'”’)\]]*$")


def sentence_spans(
    text: str, start: int = 0, end: int | None = None, *, line_breaks: bool = True
) -> list[tuple[int, int]]:
    """Split text[start:end] into sentences; returns (start, end) offsets into `text`, whitespace trimmed.

    `line_breaks=True` (text without structure, one paragraph a line) ends a sentence at every line
    end; inside a paragraph block (`False`) a line end is a hard wrap, and only a blank line ends one."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    candidates = _CANDIDATE if line_breaks else _CANDIDATE_WRAPPED
    for match in candidates.finditer(text, start, end):
        if match.group(0).startswith("\n") or _ends_sentence(text, cursor, match):
            _append_trimmed(text, cursor, match.end(), spans)
            cursor = match.end()
    _append_trimmed(text, cursor, end, spans)
    return spans


def _ends_sentence(text: str, cursor: int, match: re.Match[str]) -> bool:
    punct = match.group(0)
    if punct[0] in "!?…":
        return True
    before = _WORD_BEFORE.search(text, cursor, match.end())
    word = before.group(1).lower().rstrip(".") if before else ""
    if word in _ABBREVIATIONS:
        return False
    # Initials such as "Robert M. Cutler" or "U.S." inside a name.
    if len(word) == 1 and word.isalpha():
        return False
    nxt = text[match.end() : match.end() + 3].lstrip()
    # A sentence starts with an upper-case letter, a digit, a quote or a bracket; "e.g. the" does not.
    return not nxt or not nxt[0].islower()


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))
