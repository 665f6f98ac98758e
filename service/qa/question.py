"""A question, parsed once: what is searched, which value it asks for, what was corrected, its language.

Everything downstream (retrieval, sentence scoring, abstention, highlighting) reads this one value, so
no rule runs twice and no module re-derives the question's meaning.

The value a question asks for is read from English interrogatives only ("how many", "when", "which
version", "which option", "who", "where") — the grammar of questions, not the vocabulary of any corpus.
A sentence offers that value when it holds one of the right shape that the question does not already
state ("In what year did X happen in 2022?" is not answered by a sentence whose only year is 2022):
numbers, dates, versions, options/identifiers/paths, names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from verbatim.service.qa.authorship import authorship_topic
from verbatim.service.qa.spelling import Correction, Vocabulary, apply, corrections
from verbatim.service.qa.text import STOPWORDS, fold, terms, words

ValueKind = Literal["number", "date", "version", "option", "person", "place", "value"]

_ASKS: list[tuple[ValueKind, re.Pattern[str]]] = [
    ("version", re.compile(r"\bversions?\b|\breleases?\b.*\b(which|what|since|first|added|dropped)\b", re.I)),
    (
        "date",
        re.compile(
            r"^\s*when\b|\bsince when\b|\b(what|which)\s+(year|date|month|day)\b|\bhow long ago\b", re.I
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow\s+(many|much|long|old|far|big|large|high|often|deep|wide|tall|heavy|fast|small)\b"
            r"|\b(what|which)\s+(?:[\w-]+\s+){0,3}?(number|amount|percentage|percent|share|proportion|size"
            r"|limit|maximum|minimum|length|count|total|price|cost|rate|level|port|timeout|depth)\b",
            re.I,
        ),
    ),
    (
        "option",
        re.compile(
            r"\b(what|which)\s+(?:[\w-]+\s+){0,3}?(option|options|flag|flags|switch|setting|variable"
            r"|parameter|argument|directive|command|keyword|field|key|function|method|attribute|header"
            r"|file|path|directory|folder|package|module|class|signal|format)\b"
            r"|\b(option|flag|switch|setting|variable|directive|command)\s+(to|for|that|which)\b",
            re.I,
        ),
    ),
    (
        "person",
        re.compile(r"^\s*(who|whom|whose)\b|\bwho\s+(is|was|were|wrote|said|leads|led)\b|\bby whom\b", re.I),
    ),
    ("place", re.compile(r"^\s*where\b|\bwhere\s+(is|are|was|were|do|does|did|can|should)\b", re.I)),
    # Keyword queries and "what is the default …": a figure or setting without an interrogative.
    (
        "number",
        re.compile(
            r"\b(exit|return|status|error)\s+(code|codes|status|value)\b|\b(minimum|maximum|max|min|size"
            r"|limit|length|level|timeout|port|range|count|interval|percentage|how\s+much)\b",
            re.I,
        ),
    ),
    ("value", re.compile(r"\b(default|value|values|name\s+of|short\s+name|called)\b", re.I)),
]

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty"
    r"|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|trillion|dozen|half|once|twice"
)
_MONTHS = (
    r"January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_VALUE: dict[str, re.Pattern[str]] = {
    "number": re.compile(
        rf"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?:\s?(?:%|per ?cent))?(?![\w.]*\d)|\b(?:{_NUMBER_WORDS})\b", re.I
    ),
    "date": re.compile(
        rf"\b(?:\d{{1,2}}\s+(?:{_MONTHS})\.?(?:\s+\d{{4}})?|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:,?\s+\d{{4}})?"
        rf"|(?:{_MONTHS})\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|(?:1[5-9]|20)\d\d)\b"
    ),
    "version": re.compile(
        r"(?<![\w.])v?\d+(?:\.\d+)+[a-z0-9]*(?![\w.]*\d)|(?<=version )\d[\w.]*|(?<=release )\d[\w.]*", re.I
    ),
    "option": re.compile(
        r"(?<![\w-])--?[A-Za-z][\w-]*(?:=\S+)?"  # -f, --file=ARCHIVE
        r"|`[^`\n]+`"  # `code`
        r"|\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b"  # CONSTANT_NAMES
        r"|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"  # snake_case
        r"|\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+\b"  # CamelCase
        r"|(?<![\w/])(?:~|\.{1,2})?/[\w.@%+-]+(?:/[\w.@%+-]*)*"  # /paths
        r"|\b\w+(?:\.\w+)+\(\)"  # dotted.calls()
    ),
    "person": re.compile(r"\b[A-Z][a-z’'-]+(?:\s+(?:[A-Z]\.\s*)?[A-Z][a-z’'-]+){1,3}\b"),
    "place": re.compile(
        r"\b[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+){0,2}\b|(?<![\w/])(?:~|\.{1,2})?/[\w.@%+-]+(?:/[\w.@%+-]*)*"
    ),
}
# Words around a wanted value that are part of the question's frame, not its subject.
_FRAME = frozenset(
    "many much long old far big large high often deep wide tall heavy fast small number amount version "
    "versions year date option flag setting value default name called kind type use used happen happened "
    "exactly".split()
)


@dataclass(frozen=True)
class ParsedQuestion:
    """What every stage of answering reads about a question."""

    text: str  # as asked
    searched: str  # what retrieval and scoring read: corrected, and the topic of an authorship question
    corrections: tuple[Correction, ...] = ()
    wants: ValueKind | None = None
    authorship: bool = False  # "Who wrote the article on …?": answered from the article's byline
    language: str | None = None  # a language the model does not read (then nothing is searched)

    @cached_property
    def terms(self) -> list[str]:
        """Content terms (stemmed, unique, in order) of the searched text."""
        return list(dict.fromkeys(terms(self.searched)))

    @cached_property
    def key_words(self) -> list[str]:
        """The things the question asks about (folded words, not the question's frame)."""
        return list(dict.fromkeys(w for w in words(self.searched) if w not in _FRAME and not w.isdigit()))


def wanted_value(question: str) -> ValueKind | None:
    """The kind of value a question asks for, or None for a question answered by a statement."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def parse(
    question: str,
    vocabulary: Vocabulary | None = None,
    is_common_word: Callable[[str], bool] = lambda _: False,
    language: str | None = None,
) -> ParsedQuestion:
    """Parse a question against the corpus vocabulary (for spelling) once."""
    text = question.strip()
    found = tuple(corrections(text, vocabulary, is_common_word)) if vocabulary is not None else ()
    corrected = apply(text, list(found))
    topic = authorship_topic(corrected)
    searched = topic or corrected
    return ParsedQuestion(
        text=text,
        searched=searched,
        corrections=found,
        wants="person" if topic else wanted_value(corrected),
        authorship=topic is not None,
        language=language,
    )


_ANY_VALUE: tuple[ValueKind, ...] = ("number", "version", "option")


def value_spans(text: str, kind: ValueKind) -> list[tuple[int, int]]:
    """Spans of `text` holding a value of the kind (offsets into `text`); "value" is any figure,
    version or option-like token."""
    if kind == "value":
        return sorted({span for k in _ANY_VALUE for span in value_spans(text, k)})
    spans = [m.span() for m in _VALUE[kind].finditer(text)]
    if kind == "person":  # a capitalised run at a sentence start is usually not a name
        spans = [(s, e) for s, e in spans if s > 0 and not text[:s].rstrip().endswith((".", "!", "?"))]
    return spans


def new_values(text: str, kind: ValueKind, question: str) -> list[tuple[int, int]]:
    """Values of the kind in `text` that the question does not already state."""
    asked = fold(question)
    out = []
    for s, e in value_spans(text, kind):
        value = fold(text[s:e]).strip("`")
        if value and value not in asked and value not in STOPWORDS:
            out.append((s, e))
    return out


def offers_value(text: str, parsed: ParsedQuestion) -> bool:
    """Whether `text` holds a value of the kind the question asks for (always, when it asks for none)."""
    return parsed.wants is None or bool(new_values(text, parsed.wants, parsed.searched))
