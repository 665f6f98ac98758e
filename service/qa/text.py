"""Shared text normalisation for lexical retrieval and sentence scoring (one definition of a "term")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

STOPWORDS = frozenset(
    """
    a about above according after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own s said same say says she should so some such t than that the their theirs
    them themselves then there these they this those through to too under until up very was we were
    what when where which while who whom whose why will with would you your yours yourself
    yourselves
    """.split()
)
_WORD = re.compile(r"[^\W_]+(?:[.,][0-9]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def fold(text: str) -> str:
    """Lower case, accents removed, typographic apostrophes made plain."""
    if text.isascii():  # nothing to decompose (most text; the slow path is 5× slower)
        return text.lower()
    text = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper: plural and common inflections (enough to match "talks"/"talk")."""
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix, repl in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("edly", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: -len(suffix)] + repl
    return word


def _content_tokens(text: str) -> Iterator[tuple[str, bool]]:
    """Folded tokens that carry content, each with whether it is a number (thousands separators removed)."""
    for match in _WORD.finditer(fold(text)):
        token = match.group(0)
        if _NUMBER.fullmatch(token):
            yield token.replace(",", ""), True
        elif token not in STOPWORDS and len(token) >= 2:
            yield token, False


def terms(text: str) -> list[str]:
    """Content terms: folded, stop words removed, stemmed; numbers keep their digits ("1,000" → "1000")."""
    return [token if number else stem(token) for token, number in _content_tokens(text)]


def words(text: str) -> list[str]:
    """Content words as written (folded, stop words removed, not stemmed): what soft matching compares."""
    return [token for token, number in _content_tokens(text) if not number or len(token) >= 2]


def numbers(text: str) -> set[str]:
    """Numbers in a text, with thousands separators removed."""
    return {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
