"""What kind of answer a question wants, and whether a sentence has that kind of thing in it."""

from __future__ import annotations

import re
from typing import Literal

AnswerType = Literal["number", "date", "person", "place", "other"]

_TYPES: list[tuple[AnswerType, re.Pattern[str]]] = [
    (
        "date",
        re.compile(
            r"^\s*(when|since when|until when)\b|\b(what|which) (year|date|month|day)\b|\bhow long ago\b",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow (many|much|long|large|big|far|often)\b"
            r"|\b(what|which) (percentage|percent|share|proportion|amount"
            r"|number|figure|value|volume|sum|total|size|capacity)\b|\bhow many\b",
            re.I,
        ),
    ),
    (
        "person",
        re.compile(
            r"^\s*(who|whom|whose)\b|\b(which|what) (president|minister|leader|official|person"
            r"|analyst|author|expert|fellow)\b|\bwho\b",
            re.I,
        ),
    ),
    (
        "place",
        re.compile(
            r"^\s*where\b|\b(which|what) (city|country|capital|place|town|region|venue|station)\b", re.I
        ),
    ),
]
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE = re.compile(
    rf"\b(1[89]\d\d|20\d\d)\b|\b({_MONTHS})\b|\b(monday|tuesday|wednesday|thursday|friday"
    r"|saturday|sunday|yesterday|today|weekend)\b",
    re.I,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?"
    r"|thousands?|millions?|billions?|half|third|quarter)\b",
    re.I,
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z’'-]+(?:\s+(?:[A-Z]\.\s*)?[A-Z][a-z’'-]+)+")
_PLACE = re.compile(r"\b(in|at|to|from|via|through|near)\s+[A-Z][a-z]+")


def answer_type(question: str) -> AnswerType:
    """The expected answer type of a question (first matching rule wins)."""
    for kind, pattern in _TYPES:
        if pattern.search(question):
            return kind
    return "other"


def has_answer_type(sentence: str, kind: AnswerType) -> bool:
    """Does the sentence contain an entity of the wanted type."""
    if kind == "date":
        return bool(_DATE.search(sentence))
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "person":
        return bool(_NAME.search(sentence))
    if kind == "place":
        return bool(_PLACE.search(sentence))
    return True
