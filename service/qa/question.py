"""What kind of answer a question wants, and whether a sentence offers one the question does not already hold.

The classes follow the fine answer types of question-classification work (Li & Roth 2002: NUM:money,
NUM:perc, NUM:count, NUM:date, NUM:period, NUM:dist, NUM:weight, HUM:ind, HUM:gr, LOC). A sentence
answers a typed question only with an entity of that type that is *new*: "In what year did X happen in
2022?" is not answered by a sentence whose only year is 2022. That is the check extractive QA systems
made before neural readers, and the one that tells "the corpus talks about the loan" from "the corpus
says how large the grant is" when no reading model is at hand. A role question ("Who is the head of
…?") is answered only by a name standing beside the role word.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from verbatim.service.qa.text import STOPWORDS, fold, stem, words

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
    r"(?:(?!(?:did|does|do|has|have|had|can|could|would|should|will|might|must)\b)[\w’'./-]+\s+){0,3}?"
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

# Capitalised only: "may" and "march" in lower case are a modal and a verb, not months.
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)s?\b")
_DATE = re.compile(
    rf"\b(1[89]\d\d|20\d\d)\b|\b({_MONTHS})\b|\b(?i:monday|tuesday|wednesday|thursday|friday"
    r"|saturday|sunday|yesterday|today|weekend)\b"
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
_TITLES = frozenset(
    "president minister prime deputy senior research fellow chairman chairwoman director secretary".split()
)
_NOT_PERSON = _TITLES | frozenset(
    """
    railways railway airlines airline centre center council institute institution university ministry bank
    fund agency association organization organisation program programme party union committee assembly
    corridor company corporation group forum foundation office commission service services news times
    post review route port republic federation states kingdom region sea ocean mountains river bio
    """.split()
)
# How a nationality adjective is made from its country's name (Armenia → Armenian, Azerbaijan →
# Azerbaijani, Iran → Iranian, China → Chinese, Turkey → Turkish, Kazakhstan → Kazakh): undone here and
# checked against the corpus vocabulary, so "the Kazakh wheat" names no organisation.
_DEMONYM_ENDINGS = (  # (adjective ending, country ending)
    ("n", ""),  # Armenian, Russian, American
    ("ian", ""),  # Iranian
    ("ian", "e"),  # Ukrainian
    ("an", ""),  # European
    ("i", ""),  # Azerbaijani, Israeli
    ("ese", "a"),  # Chinese
    ("ish", "ey"),  # Turkish
    ("", "stan"),  # Kazakh, Uzbek
    ("", "istan"),  # Afghan
)
_PARTICLE = r"(?:al|el|bin|ibn|de|van|von|der|du|ul)"
_NAME = re.compile(
    rf"(?<![.!?]\s)\b[A-Z][\w’'-]+(?:\s+(?:(?:[A-Z]\.\s*)|(?:{_PARTICLE}[- ]))?[A-Z][\w’'-]+)+"
)
_PLACE = re.compile(r"\b(?:in|at|to|from|via|through|near)\s+((?:the\s+)?[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*)")
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]+")
_CAPITALISED = re.compile(r"\b[A-Z][\w’'-]+")


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


def is_demonym(word: str, vocabulary: Container[str]) -> bool:
    """ "Armenian", "Kazakh": a nationality adjective, when the corpus knows the country it comes from."""
    folded = fold(word).removesuffix("'s")
    for ending, country_ending in _DEMONYM_ENDINGS:
        if not folded.endswith(ending) or len(folded) - len(ending) < 3:
            continue
        country = folded[: len(folded) - len(ending)] + country_ending
        if country != folded and stem(country) in vocabulary:
            return True
    return False


def _name_spans(sentence: str) -> list[tuple[int, int]]:
    """Runs of two or more capitalised words, split at possessives ("the Assembly’s Rose Roth seminar":
    "Assembly", "Rose Roth"), without a capitalised function word that opens a sentence ("In September")."""
    spans = []
    for m in _NAME.finditer(sentence):
        start = m.start()
        for cut in re.finditer(r"[’']s\s+|$", m.group(0)):
            spans.append((start, m.start() + cut.start()))
            start = m.start() + cut.end()
    out = []
    for start, end in spans:
        first = sentence[start:end].split()[0]
        if fold(first) in STOPWORDS:
            start += len(first)
            start += len(sentence[start:end]) - len(sentence[start:end].lstrip())
        if sentence[start:end].endswith(("’s", "'s")):
            end -= 2
        if start < end:
            out.append((start, end))
    return out


def _names(sentence: str, spans: list[tuple[int, int]] | None = None) -> list[str]:
    """Names of two words or more (the person-name candidates)."""
    spans = _name_spans(sentence) if spans is None else spans
    return [n for s, e in spans if len((n := sentence[s:e]).split()) >= 2]


def _standalone(sentence: str, spans: list[tuple[int, int]], pattern: re.Pattern[str] = _PROPER) -> list[str]:
    """Capitalised words outside every multi-word name, possessive dropped."""
    out = []
    for m in pattern.finditer(sentence):
        if not any(s <= m.start() < e and len(sentence[s:e].split()) >= 2 for s, e in spans):
            out.append(m.group(0).removesuffix("’s").removesuffix("'s"))
    return out


def _organisations(sentence: str, vocabulary: Container[str]) -> list[str]:
    """Capitalised runs that are neither a person's name nor only nationalities and titles ("Armenian
    Minister"), and capitalised words standing alone ("Rosatom", "SOCAR") that are no nationality."""
    spans = _name_spans(sentence)
    out = [
        name
        for s, e in spans
        if len((name := sentence[s:e]).split()) >= 2
        and not _is_person_name(name)
        and any(fold(w) not in _TITLES and not is_demonym(w, vocabulary) for w in name.split())
    ]
    out += [
        word
        for word in _standalone(sentence, spans)
        if fold(word) not in _TITLES and not _DATE.fullmatch(word) and not is_demonym(word, vocabulary)
    ]
    return out


@dataclass(frozen=True)
class Lexicon:
    """What the corpus tells about names: its vocabulary (stems) shows which capitalised words are
    nationality adjectives, and the surnames of the people it names in full make a later bare
    "Aliyev confirmed" a person too."""

    vocabulary: Container[str] = frozenset()
    surnames: frozenset[str] = frozenset()

    @classmethod
    def build(cls, texts: Iterable[str], vocabulary: Container[str]) -> Lexicon:
        """Surnames are the last words of full person names, less words the text also writes in lower
        case (headline words: "Summit", "Peace"), words after "in"/"from" (places: "in Armenia"),
        months and nationalities."""
        last: set[str] = set()
        lower: set[str] = set()
        located: set[str] = set()
        for text in texts:
            last.update(fold(n.split()[-1]) for n in _names(text) if _is_person_name(n))
            lower.update(fold(w) for w in _LOWER_WORD.findall(text))
            located.update(fold(place.split()[-1]) for place in _LOCATED.findall(text))
        surnames = {
            w
            for w in last - lower - located - STOPWORDS - _NOT_NAME
            if not _DATE.fullmatch(w.capitalize()) and not is_demonym(w, vocabulary)
        }
        return cls(vocabulary, frozenset(surnames))


_LOWER_WORD = re.compile(r"(?<![\w’'-])[a-z][a-z’'-]+")
_LOCATED = re.compile(
    r"\b(?:in|from|into|across|through|via)\s+(?:the\s+)?((?:[A-Z][\w’'-]+\s+)*[A-Z][\w’'-]+)"
)
NO_LEXICON = Lexicon()


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


def answer_entities(sentence: str, kind: AnswerType, lexicon: Lexicon = NO_LEXICON) -> list[str]:
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
        spans = _name_spans(sentence)
        people = [n for n in _names(sentence, spans) if _is_person_name(n)]
        alone = _standalone(sentence, spans, _CAPITALISED)  # "Aliyev said" opens sentences
        return people + [w for w in alone if fold(w) in lexicon.surnames]
    if kind == "contact":
        return _all(_CONTACT, sentence)
    if kind == "organization":  # one-word names count here: "Rosatom", "SOCAR", "Samruk-Kazyna"
        return _organisations(sentence, lexicon.vocabulary)
    if kind == "place":
        places = _all(_PLACE, sentence, 1) + _all(_PROPER, sentence)
        return [p for p in places if not is_demonym(p, lexicon.vocabulary)]
    return []


_NOT_NAME = _TITLES | frozenset("former acting late then mr mrs ms dr prof".split())


def novel(entities: list[str], sentence: str, kind: AnswerType, question: str) -> list[str]:
    """The entities (found in the sentence) that the question does not already name: by its words (a
    person by surname: "Former President Nursultan Nazarbayev" is the question's "Nazarbayev"), or by
    an acronym it spells out ("TRIPP" is the "Trump Route for … Prosperity")."""
    if not entities:
        return []
    asked, acronyms = _asked(question)
    spelled = [m.span() for a in acronyms if (m := spelled_out(a, sentence))]
    out = []
    for entity in entities:
        parts = [w for w in re.split(r"[\s,]+", fold(entity)) if w]
        if kind == "person":
            parts = [w for w in parts if w not in _NOT_NAME][-1:]
        at = sentence.find(entity)
        if any(start <= at < end for start, end in spelled):
            continue
        if not parts or not all(_whole_word(w).search(asked) for w in parts):
            out.append(entity)
    return out


@lru_cache(maxsize=4096)
def _asked(question: str) -> tuple[str, tuple[str, ...]]:
    """A question folded for matching names, and its acronyms: once per question, not per sentence."""
    return fold(question), tuple(w for w in named_words(question) if w.isupper())


@lru_cache(maxsize=65536)
def _whole_word(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")


# "Who is/was [the] <role> of|who|that|when …?": the role is the last word before the qualifier.
_ROLE_QUESTION = re.compile(
    r"^\s*who\s+(?:is|was|are|were)\s+(?P<role>[^?,]*?)"
    r"(?=\s+(?:of|who|whom|that|when|in|at|for|with|on)\b|\s*[?,]|\s*$)",
    re.I,
)
_WORD = re.compile(r"[\w’'-]+")
# Words that may stand between a role and its holder's name: "The head of the Armenian Security Council,
# Armen Grigoryan" has five, "Swedish Prime Minister Ulf Kristersson" none (dev: the same from 3 to 9).
ROLE_WINDOW = 6


@lru_cache(maxsize=4096)
def asked_role(question: str) -> str | None:
    """The role whose holder a "Who is/was the <role> …?" question asks for ("Who was Armenia's president
    when …?" → "president"), folded; None for other questions ("Who signed …?")."""
    m = _ROLE_QUESTION.search(question)
    last = m.group("role").split()[-1:] if m else []
    if not last or fold(last[0]) in STOPWORDS or last[0].endswith(("’s", "'s")):
        return None
    return fold(last[0])


def beside_role(names: list[str], sentence: str, role: str) -> list[str]:
    """The names that stand within ROLE_WINDOW words of the role in the sentence, as a title or an
    apposition ("Swedish Prime Minister Ulf Kristersson", "Pashinyan, the prime minister"). A name
    elsewhere holds some other part ("Tokayev offered the venue" does not say who Armenia's president
    was), and a sentence without the role word says nothing of who holds it."""
    tokens = [(m.start(), fold(m.group())) for m in _WORD.finditer(sentence)]
    roles = [i for i, (_, t) in enumerate(tokens) if stem(t) == stem(role)]
    if not roles:
        return []
    out = []
    for name in names:
        length = len(_WORD.findall(name))
        for m in re.finditer(re.escape(name), sentence):
            first = sum(1 for start, _ in tokens if start < m.start())
            last = first + length - 1
            if any(first - 1 - ROLE_WINDOW <= r <= last + 1 + ROLE_WINDOW for r in roles):  # or inside it
                out.append(name)
                break
    return out


def answering(entities: list[str], sentence: str, kind: AnswerType, question: str) -> list[str]:
    """The entities of a sentence that could answer the question: new to it, and for a role question
    ("Who is the head of …?") standing beside the role."""
    found = novel(entities, sentence, kind, question)
    role = asked_role(question) if kind == "person" and found else None
    return beside_role(found, sentence, role) if role else found


def has_answer_type(
    sentence: str, kind: AnswerType, question: str = "", lexicon: Lexicon = NO_LEXICON
) -> bool:
    """Does the sentence hold an entity of the wanted type that could answer the question."""
    return kind == "other" or bool(
        answering(answer_entities(sentence, kind, lexicon), sentence, kind, question)
    )


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


def spelled_out(acronym: str, text: str) -> re.Match[str] | None:
    """Where the text spells the acronym out ("IRI" → "International Republican Institute")."""
    pattern = _spelled_pattern(acronym)
    return None if pattern is None else pattern.search(text)


@lru_cache(maxsize=1024)
def _spelled_pattern(acronym: str) -> re.Pattern[str] | None:
    if not (2 <= len(acronym) <= 6 and acronym.isupper() and acronym.isalpha()):
        return None
    spelled = r"\s+(?:(?:of|for|and|the|de|on)\s+)?".join(rf"{ch}[a-z]+" for ch in acronym)
    return re.compile(rf"\b{spelled}\b")


def expands(acronym: str, text: str) -> bool:
    """Does the text spell the acronym out."""
    return spelled_out(acronym, text) is not None
