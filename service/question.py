"""What kind of answer a question wants, and whether a sentence offers one the question does not already hold.

The classes follow the fine answer types of question-classification work (Li & Roth 2002: NUM:money,
NUM:perc, NUM:count, NUM:date, NUM:period, NUM:dist, NUM:weight, HUM:ind, HUM:gr, LOC). A sentence
answers a typed question only with an entity of that type that is *new*: "In what year did X happen in
2022?" is not answered by a sentence whose only year is 2022. That is the check extractive QA systems
made before neural readers, and the one that tells "the corpus talks about the loan" from "the corpus
says how large the grant is" when no reading model is at hand.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from service.text import STOPWORDS, fold, words

AnswerType = Literal[
    "year",
    "date",
    "duration",
    "distance",
    "weight",
    "percent",
    "money",
    "count",
    "quantity",
    "person",
    "organization",
    "place",
    "contact",
    "other",
]

_MONEY_WORDS = (
    r"cost|costs|price|prices|priced|worth|value|valued|fare|fee|fees|budget|salary|paid|pay|spend|spent"
)
# "what was the estimated cost", "which Kazakh sovereign wealth fund": the asked-for noun after up to
# three modifiers.
_WHAT = (
    r"\b(?:what|which)\s+(?:(?:is|was|were|are|will be|would be)\s+)?(?:the\s+)?"
    r"(?:(?!(?:did|does|do|has|have|had|can|could|would|should|will|might|must)\b)[\w’'/-]+\s+){0,3}?"
)
_TYPES: list[tuple[AnswerType, re.Pattern[str]]] = [
    ("contact", re.compile(r"\b(e-?mail|phone|telephone|fax|website|web site|url)\b", re.I)),
    ("year", re.compile(r"\b(what|which) year\b|\bsince what year\b", re.I)),
    (
        "date",
        re.compile(
            r"^\s*(when|since when|until when)\b|\b(what|which) (date|dates|month|day)\b|\bhow long ago\b",
            re.I,
        ),
    ),
    (
        "distance",
        re.compile(
            r"\bhow (far|wide|high|deep|tall)\b|\bhow long (is|was|will|would)\b(?!.*\b(take|last)\b)"
            rf"|\bhow many (kilometres|kilometers|km|miles|metres|meters)\b|{_WHAT}(length|distance|width)\b",
            re.I,
        ),
    ),
    ("duration", re.compile(r"\bhow long\b|\bhow many (years|months|weeks|days|hours|decades)\b", re.I)),
    ("weight", re.compile(r"\bhow heavy\b|\bweigh\b|\bhow many (tons|tonnes|kilograms|kg)\b", re.I)),
    (
        "percent",
        re.compile(rf"{_WHAT}(percentage|percent|share|proportion)\b|\binterest rate\b", re.I),
    ),
    (
        "money",
        re.compile(
            rf"\bhow much\b.*\b({_MONEY_WORDS}|invest|invested|raise|earn|lend|lent)\b"
            rf"|{_WHAT}({_MONEY_WORDS})\b|\bhow much money\b",
            re.I,
        ),
    ),
    ("count", re.compile(r"\bhow many\b|\b(what|which) number of\b", re.I)),
    (
        "quantity",
        re.compile(
            rf"\bhow (much|large|big|often)\b|{_WHAT}(amount|number|figure|volume|sum|total|size"
            r"|capacity|rate|turnover)\b",
            re.I,
        ),
    ),
    (
        "organization",
        re.compile(
            rf"{_WHAT}(company|companies|firm|party|parties|organisation|organization|agency"
            r"|bank|fund|institute|institution|university|think tank|council|body|group|ministry"
            r"|newspaper|outlet)\b",
            re.I,
        ),
    ),
    (
        "person",
        re.compile(
            rf"^\s*(who|whom|whose)\b|\bwho\b|{_WHAT}(president|minister|leader|official|person|analyst"
            r"|author|expert|fellow|spokesman|spokesperson|ambassador|envoy|chairman|chairwoman|director"
            r"|secretary|co-director)\b",
            re.I,
        ),
    ),
    (
        "place",
        re.compile(
            rf"^\s*where\b|\bwhere\b|{_WHAT}(city|cities|country|countries|capital|place|town|region"
            r"|venue|station|port|village|province)\b",
            re.I,
        ),
    ),
]

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)s?\b")
_DATE = re.compile(
    rf"\b(1[89]\d\d|20\d\d)\b|\b({_MONTHS})\b|\b(monday|tuesday|wednesday|thursday|friday"
    r"|saturday|sunday|yesterday|today|weekend)\b",
    re.I,
)
_NUMBER_WORD = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fifteen|twenty|thirty|forty"
    r"|fifty|hundred|dozens?|hundreds?|thousands?|millions?|billions?|trillions?|half|third|quarter"
)
_NUMBER = re.compile(rf"\d+(?:[.,]\d+)*|\b({_NUMBER_WORD})\b", re.I)
_UNIT_DURATION = re.compile(r"\b(years?|months?|weeks?|days?|hours?|minutes?|decades?|centur(y|ies))\b", re.I)
_UNIT_DISTANCE = re.compile(r"\b(km|kilomet(re|er)s?|miles?|met(re|er)s?|m)\b", re.I)
_UNIT_WEIGHT = re.compile(r"\b(tons?|tonnes?|kg|kilograms?|grams?|pounds?)\b", re.I)
_PERCENT = re.compile(r"%|\bper ?cent\b|\bpercentage points?\b", re.I)
_CURRENCY = re.compile(
    r"[$€£¥₽₸]|\b(US\$|USD|EUR|GBP|dollars?|euros?|pounds sterling|manats?|tenge|drams?|rubles?|roubles?"
    r"|lari|yuan|soms?|somoni|rupees?)\b",
    re.I,
)
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|https?://\S+|\bwww\.\S+|\+?\d[\d ()-]{7,}\d", re.I)
# A capitalised run ending in one of these names an organisation or a place, not a person.
_NOT_PERSON = frozenset(
    """
    railways railway airlines airline centre center council institute institution university ministry bank
    fund agency association organization organisation program programme party union committee assembly
    corridor company corporation group forum foundation office commission service services news times
    post review route port republic federation states kingdom region sea ocean mountains river
    president minister prime deputy senior research fellow chairman chairwoman director secretary bio
    """.split()
)
_PARTICLE = r"(?:al|el|bin|ibn|de|van|von|der|du|ul)"
_NAME = re.compile(
    rf"(?<![.!?]\s)\b[A-Z][\w’'-]+(?:\s+(?:(?:[A-Z]\.\s*)|(?:{_PARTICLE}[- ]))?[A-Z][\w’'-]+)+"
)
_PLACE = re.compile(r"\b(?:in|at|to|from|via|through|near)\s+((?:the\s+)?[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*)")
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]+")


@lru_cache(maxsize=4096)  # asked once while scoring candidates and again for the abstention features
def answer_type(question: str) -> AnswerType:
    """The expected answer type of a question (first matching rule wins)."""
    for kind, pattern in _TYPES:
        if pattern.search(question):
            return kind
    return "other"


def _is_person_name(name: str) -> bool:
    """ "Valentina Matviyenko" is a person; "South Caucasus Railways" and "Senior Research Fellow" are not."""
    parts = [fold(w).strip("’'").removesuffix("’s").removesuffix("'s") for w in name.split()]
    return parts[-1] not in _NOT_PERSON and any(p not in _NOT_PERSON for p in parts)


def _all(pattern: re.Pattern[str], text: str, group: int = 0) -> list[str]:
    return [m.group(group) for m in pattern.finditer(text)]


def _numbers_near(sentence: str, unit: re.Pattern[str]) -> list[str]:
    """Numbers followed within three words by a unit of the wanted kind ("15–18 days", "ten meters")."""
    out = []
    for m in _NUMBER.finditer(sentence):
        tail = sentence[m.end() : m.end() + 40]
        if unit.match(tail.lstrip(" -–")) or unit.search(" ".join(tail.split()[:3])):
            out.append(m.group(0))
    return out


def answer_entities(sentence: str, kind: AnswerType) -> list[str]:
    """The entities in a sentence that could answer a question of this type."""
    if kind == "year":
        return _all(_YEAR, sentence)
    if kind == "date":
        return _all(_DATE, sentence)
    if kind == "duration":
        return _numbers_near(sentence, _UNIT_DURATION)
    if kind == "distance":
        return _numbers_near(sentence, _UNIT_DISTANCE)
    if kind == "weight":
        return _numbers_near(sentence, _UNIT_WEIGHT)
    if kind == "percent":
        after = _NUMBER.finditer(sentence)
        return [m.group(0) for m in after if _PERCENT.search(sentence[m.end() : m.end() + 9])]
    if kind == "money":
        if not _CURRENCY.search(sentence):
            return []
        return [
            m.group(0)
            for m in _NUMBER.finditer(sentence)
            if _CURRENCY.search(sentence[max(0, m.start() - 4) : m.end() + 22])
        ]
    if kind in ("count", "quantity"):
        # A year is not a count ("in 2024" answers no "how many"), unless a noun follows it.
        return [m.group(0) for m in _NUMBER.finditer(sentence) if not _YEAR.fullmatch(m.group(0))]
    if kind == "person":
        return [n for n in _all(_NAME, sentence) if _is_person_name(n)]
    if kind == "contact":
        return _all(_CONTACT, sentence)
    if kind == "organization":  # one-word names count here: "Rosatom", "SOCAR", "Samruk-Kazyna"
        return _all(_NAME, sentence) + _all(_PROPER, sentence)
    if kind == "place":
        return _all(_PLACE, sentence, 1) + _all(_PROPER, sentence)
    return []


def has_answer_type(sentence: str, kind: AnswerType, question: str = "") -> bool:
    """Does the sentence hold an entity of the wanted type that the question does not already name."""
    if kind == "other":
        return True
    asked = fold(question)
    for entity in answer_entities(sentence, kind):
        parts = [w for w in re.split(r"[\s,]+", fold(entity)) if w]
        if not parts or not all(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", asked) for w in parts):
            return True
    return False


# Words that say what kind of answer is wanted, not what it is about: the answer type covers them
# ("which city" is answered by "Tbilisi", which shares no word with it).
_FRAME_WORDS = frozenset(
    """
    many much year years date dates month months day days time times long large big far often wide high deep
    tall old share percentage percent proportion number amount figure sum total size name names city cities
    country countries place places town region person people kind type sort one
    say says said tell told make made take took get got give gave do happen happened become according
    """.split()
)


def key_terms(question: str) -> list[str]:
    """The content words of a question that its evidence must also speak of (in order, once each)."""
    return list(dict.fromkeys(w for w in words(question) if w not in _FRAME_WORDS))


_AUX = frozenset("did does do were was are is have has had will would could can should might may".split())


def counted_noun(question: str) -> str | None:
    """What a "how many" question counts: the last word of the phrase after "how many", which ends at
    an auxiliary, a stop word or a past-tense verb ("How many rail wagons carried …" → "wagons")."""
    m = re.search(r"\bhow many\s+(.*)", question, re.I)
    if m is None:
        return None
    phrase: list[str] = []
    for token in m.group(1).split()[:4]:
        word = fold(token).strip("?.,;:!’'\"")
        if not word or word in _AUX or word in STOPWORDS or (phrase and word.endswith("ed")):
            break
        phrase.append(word)
    return phrase[-1] if phrase else None


def numbers_with_following(sentence: str, span: int = 3) -> list[tuple[str, list[str]]]:
    """Each number in a sentence with the content words right after it ("eight Russian citizens")."""
    out = []
    for m in _NUMBER.finditer(sentence):
        if _YEAR.fullmatch(m.group(0)):
            continue
        out.append((m.group(0), words(" ".join(sentence[m.end() :].split()[: span + 1]))[:span]))
    return out


def named_words(question: str) -> list[str]:
    """Capitalised words past the first (names, acronyms): what a question is about by name."""
    return [w.removesuffix("’s").removesuffix("'s") for w in _all(_PROPER, question.strip())]


def expands(acronym: str, text: str) -> bool:
    """Does the text spell the acronym out ("IRI" → "International Republican Institute")."""
    if not (2 <= len(acronym) <= 6 and acronym.isupper() and acronym.isalpha()):
        return False
    spelled = r"\s+(?:(?:of|for|and|the|de|on)\s+)?".join(rf"{ch}[a-z]+" for ch in acronym)
    return re.search(rf"\b{spelled}\b", text) is not None
