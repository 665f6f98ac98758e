"""Score `/ask` responses against a question set: retrieval, answers, grounding and abstention.

Everything here is pure: no network, no model, no embeddings. Faithfulness is judged only with
character offsets into the corpus and token overlap with the quotes an answer cites, so a score
can always be traced back to a span of a seed file.

Entry points: `load_questions`, `score_run`, `render_markdown` and `Thresholds`.

Document text: for text formats (`.txt`, `.md`, `.rst`, …) the file read exactly as on disk; for
converted formats (HTML, PDF, DOCX) the text the engine serves (`Engine.document(source).text` or
`GET /documents/{source}`), passed in as `served`. Evidence strings of converted formats are matched
whitespace-insensitively (any run of whitespace in the evidence matches any run in the text), because
the people writing questions saw the document, not the extracted text.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verbatim.evals.calibration import Calibration, calibrate, render_reliability
from verbatim.evals.quote_cuts import quote_cut
from verbatim.service.qa.extractive import HEDGE_TEXT

Kind = Literal["fact", "number", "paraphrase", "multi", "unanswerable", "noise"]
Split = Literal["dev", "test"]
KINDS: tuple[str, ...] = ("fact", "number", "paraphrase", "multi", "unanswerable", "noise")
RECALL_KS: tuple[int, ...] = (1, 3, 5, 10)
NDCG_K = 10
SUPPORT_SHARE = 0.6
DEFAULT_THRESHOLDS_PATH = Path(__file__).with_name("thresholds.toml")
# Formats whose document text is the file itself (DESIGN.md); every other format is converted.
TEXT_SUFFIXES: frozenset[str] = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})


def is_text_format(source: str) -> bool:
    """True when offsets of `source` point into the raw file (not into extracted text)."""
    return Path(source).suffix.lower() in TEXT_SUFFIXES


# --------------------------------------------------------------------------- question set


class Question(BaseModel):
    """One line of a question set (DESIGN.md format plus `split`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    question: str
    answers: list[str]
    evidence: list[str]
    source: str | list[str]
    kind: Kind
    split: Split = "dev"

    @property
    def sources(self) -> list[str]:
        """Source files as a list, whichever form the line used."""
        return [self.source] if isinstance(self.source, str) else list(self.source)

    @property
    def answerable(self) -> bool:
        """An empty answer list marks a question the corpus does not answer."""
        return bool(self.answers)


def load_questions(path: str | Path, split: Literal["dev", "test", "all"] = "dev") -> list[Question]:
    """Read a JSONL question set, keeping one split so test questions are never tuned on by accident."""
    if split not in ("dev", "test", "all"):
        raise ValueError(f"split must be 'dev', 'test' or 'all', not {split!r}")
    questions: list[Question] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                q = Question.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise ValueError(f"{path}:{lineno}: invalid question: {exc}") from exc
            if q.id in seen:
                raise ValueError(f"{path}:{lineno}: duplicate question id {q.id!r}")
            seen.add(q.id)
            if split == "all" or q.split == split:
                questions.append(q)
    return questions


# --------------------------------------------------------------------------- response shape


class Highlight(BaseModel):
    """A value marked inside a citation: `[start, end)` in the same document text."""

    model_config = ConfigDict(extra="ignore")

    start: int
    end: int


class Citation(BaseModel):
    """A citation as `/ask` returns it; extra fields are ignored so the contract can grow."""

    model_config = ConfigDict(extra="ignore")

    n: int
    source: str
    title: str = ""
    quote: str
    start: int
    end: int
    chunk_id: str = ""
    score: float | None = None
    highlights: list[Highlight] = Field(default_factory=list)


class Passage(BaseModel):
    """A retrieved passage as `/ask` returns it."""

    model_config = ConfigDict(extra="ignore")

    chunk_id: str = ""
    source: str
    title: str = ""
    start: int
    end: int
    text: str = ""
    score: float | None = None


class AskResponse(BaseModel):
    """The parts of an `/ask` response the scorer reads; `error` lets a runner record failures."""

    model_config = ConfigDict(extra="ignore")

    answer: str = ""
    abstained: bool = False
    hedged: bool = False
    confidence: float | None = None
    backend: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    error: str | None = None


class Span(BaseModel):
    """A half-open character range `[start, end)` of one corpus file."""

    model_config = ConfigDict(frozen=True)

    source: str
    start: int
    end: int

    def overlaps(self, other: Span) -> bool:
        """Same file and at least one shared character."""
        return self.source == other.source and self.start < other.end and other.start < self.end

    def contains(self, other: Span) -> bool:
        """Same file and `other` lies entirely inside this span."""
        return self.source == other.source and self.start <= other.start and other.end <= self.end


def _span(item: Citation | Passage) -> Span:
    return Span(source=item.source, start=item.start, end=item.end)


# --------------------------------------------------------------------------- corpus


ServedText = Callable[[str], str | None]


class Corpus:
    """Document texts as the offset invariant defines them.

    Text formats are read from the file (UTF-8, newline=""), never from the system under test.
    Converted formats come from `served` (the engine's stored extraction); without it they are None.
    """

    def __init__(self, root: str | Path, served: ServedText | None = None) -> None:
        self.root = Path(root).resolve()
        self.served = served
        self._cache: dict[str, str | None] = {}

    def text(self, source: str) -> str | None:
        """The document's text, or None if it is missing, unreadable or lies outside the corpus root."""
        if source not in self._cache:
            path = (self.root / source).resolve()
            if not path.is_relative_to(self.root) or not path.is_file():
                self._cache[source] = None
            elif not is_text_format(source):
                self._cache[source] = self.served(source) if self.served else None
            else:
                try:
                    with open(path, encoding="utf-8", newline="") as fh:
                        self._cache[source] = fh.read()
                except (OSError, UnicodeDecodeError):
                    self._cache[source] = None
        return self._cache[source]

    def span_text(self, span: Span) -> str | None:
        """`text[start:end]`, or None when the span is not a valid range of an existing file."""
        text = self.text(span.source)
        if text is None or not 0 <= span.start <= span.end <= len(text):
            return None
        return text[span.start : span.end]


def find_loose(text: str, needle: str) -> list[tuple[int, int]]:
    """Every `[start, end)` of `text` equal to `needle` up to whitespace, anywhere: a question writer
    copies the visible text of a PDF or HTML page, and extraction may lay the same characters out with
    other line breaks, or with a space inside a word where the PDF kerns letters apart ("f avour")."""
    chars = [c for c in needle if not c.isspace()]
    if not chars:
        return []
    pattern = re.compile(r"\s*".join(re.escape(c) for c in chars))
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def find_evidence(text: str, evidence: str, *, exact: bool) -> list[tuple[int, int]]:
    """Every occurrence of an evidence string: byte-exact for text formats, else whitespace-insensitive."""
    if not exact:
        return find_loose(text, evidence)
    found: list[tuple[int, int]] = []
    start = text.find(evidence)
    while start != -1 and evidence:
        found.append((start, start + len(evidence)))
        start = text.find(evidence, start + 1)
    return found


def evidence_spans(question: Question, corpus: Corpus) -> list[Span]:
    """Every occurrence of every evidence string in the question's sources.

    A file can repeat an article (000_… holds one twice), so all occurrences count as gold.
    Raises ValueError if an evidence string occurs nowhere: the question set is then broken.
    """
    spans: list[Span] = []
    for evidence in question.evidence:
        found = False
        for source in question.sources:
            text = corpus.text(source)
            if text is None:
                continue
            for start, end in find_evidence(text, evidence, exact=is_text_format(source)):
                spans.append(Span(source=source, start=start, end=end))
                found = True
        if not found:
            raise ValueError(f"{question.id}: evidence not found in {question.sources}: {evidence[:80]!r}")
    return spans


# --------------------------------------------------------------------------- text normalisation

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_MARKER_RUN = re.compile(r"(?:[ \t]*\[\d+(?:\s*,\s*\d+)*\])+")
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20",
}  # fmt: skip
_ARTICLES = frozenset({"a", "an", "the"})
_QUOTE_MAP = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "´": "'", "`": "'"})


def strip_citation_markers(text: str) -> str:
    """Remove `[1]`, `[1, 2]` markers so they do not count as answer tokens."""
    return _MARKER.sub(" ", text)


def citation_markers(text: str) -> list[int]:
    """Citation numbers referenced by `[n]` / `[n, m]` markers, in order of first use."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for part in match.group(1).split(","):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def normalize_text(text: str) -> str:
    """Lowercase, strip punctuation/articles and unify number formats so answers compare fairly.

    "1,000" -> "1000", "$550 million" / "US$ 550 million" -> "550 million", "20%" -> "20 percent",
    "ten" -> "10", dashes and quotes -> spaces, possessive "'s" dropped, "n't" -> " not".
    Decimal points between digits are kept ("4.5").
    """
    s = unicodedata.normalize("NFKC", text).lower().translate(_QUOTE_MAP)
    s = re.sub(r"\bus\s*\$", " ", s)
    s = re.sub(r"[$€£]", " ", s)
    s = s.replace("%", " percent ")
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)
    s = re.sub(r"\bcan't\b", "can not", s)
    s = re.sub(r"\bwon't\b", "will not", s)
    s = re.sub(r"n't\b", " not", s)
    s = re.sub(r"'s\b", "", s)
    s = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", s)
    s = re.sub(r"[^\w\s.]|_", " ", s)
    tokens = [_NUMBER_WORDS.get(t, t) for t in s.split() if t not in _ARTICLES]
    return " ".join(tokens)


def answer_in_text(answer: str, text: str) -> bool:
    """True if the normalised gold answer occurs as a whole-token run in the normalised text."""
    gold = normalize_text(answer)
    return bool(gold) and f" {gold} " in f" {normalize_text(text)} "


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1 between normalised prediction (citation markers removed) and gold."""
    pred_tokens = normalize_text(strip_citation_markers(prediction)).split()
    gold_tokens = normalize_text(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- sentences

_ABBREVIATION = re.compile(
    r"(?:^|[\s(\"“])(?:[A-Za-z]\.)+$|\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|etc|No|Gen|Gov|Sen|Rep|Inc|Ltd|Co|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.$"
)
_CLOSERS = "”\"’')"


def split_sentences(text: str) -> list[str]:
    """Split an answer into sentences, keeping each sentence's trailing `[n]` markers with it.

    A sentence ends at `.`, `!` or `?` outside quotation marks, or at a closing quotation mark
    that is followed by citation markers (the extractive form `“…” [1] “…” [2]`), provided the
    next character is whitespace or the end and the next sentence does not start lowercase.
    Markers right after the end (`… lifted.” [1]`) and punctuation right after markers
    (`… [1].`) stay with the sentence. Initials such as "U.S." do not end a sentence.
    """
    sentences: list[str] = []
    start = 0
    depth = 0  # curly-quote nesting
    straight = False  # inside "..." straight quotes
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        i += 1
        if ch == "“":
            depth += 1
        elif ch == "”":
            depth = max(0, depth - 1)
        elif ch == '"':
            straight = not straight
        if depth or straight or ch not in '.!?”"':
            continue
        j = i
        while j < n and text[j] in _CLOSERS:
            j += 1
        marker_run = _MARKER_RUN.match(text, j)
        k = marker_run.end() if marker_run else j
        has_markers = k > j
        while k < n and text[k] in ".!?":
            k += 1
        if k < n and not text[k].isspace():
            continue
        if ch in '”"' and not has_markers and text[max(0, i - 2)] not in ".!?":
            continue
        if ch == "." and not has_markers and _ABBREVIATION.search(text[start:i]):
            continue
        rest = text[k:].lstrip()
        if rest and rest[0].islower():
            continue
        sentences.append(text[start:k])
        start = k
        i = k
    sentences.append(text[start:])
    return [s.strip() for s in sentences if re.search(r"\w", strip_citation_markers(s))]


# Function words ignored when judging support. "may" is here (as a modal it is far more
# common than the month), so it is deliberately absent from _MONTHS. The scorer keeps its own list
# rather than the service's (service.text.STOPWORDS): negations must count here, and a change to the
# system under test must never change how it is scored.
_STOPWORDS = frozenset(
    {
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "said",
        "says",
        "say",
        "according",
        "can",
        "may",
        "might",
        "must",
        "shall",
        "s",
        "t",
    }
)
_NEGATIONS = frozenset(
    {"not", "no", "never", "none", "nor", "neither", "without", "cannot", "nothing", "nobody"}
)
_MONTHS = frozenset(
    {
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    }
)
_NUMBER_TOKEN = re.compile(r"^\d+(?:\.\d+)?(?:st|nd|rd|th)?$")


def content_tokens(text: str) -> list[str]:
    """Normalised tokens minus stopwords; negations, numbers and months are kept on purpose."""
    return [t for t in normalize_text(strip_citation_markers(text)).split() if t not in _STOPWORDS]


def is_number_or_date_token(token: str) -> bool:
    """Numbers (after normalisation, incl. "ten" -> "10" and "34th") and month names."""
    return bool(_NUMBER_TOKEN.match(token)) or token in _MONTHS


@dataclass(frozen=True)
class SentenceCheck:
    """Why a sentence is or is not supported by the quotes it cites."""

    sentence: str
    cited: tuple[int, ...]
    supported: bool
    token_share: float
    missing_numbers: tuple[str, ...] = ()
    missing_negations: tuple[str, ...] = ()
    reason: str = ""


def check_sentence_support(sentence: str, citations: Mapping[int, Citation]) -> SentenceCheck | None:
    """Judge one answer sentence against the quotes it cites by `[n]` markers.

    Supported iff it cites at least one known citation, at least 60% of its content tokens
    (lowercased, stopwords removed) occur in those quotes, and every number/date token and every
    negation word in it occurs in those quotes too (so "550" -> "650" or an added "not" fails
    even when the rest of the words match). Returns None for sentences with no content tokens.
    """
    tokens = content_tokens(sentence)
    if not tokens:
        return None
    cited = tuple(n for n in citation_markers(sentence) if n in citations)
    if not cited:
        return SentenceCheck(sentence, cited, False, 0.0, reason="cites no returned citation")
    quote_tokens: set[str] = set()
    for n in cited:
        quote_tokens.update(normalize_text(citations[n].quote).split())
    share = sum(t in quote_tokens for t in tokens) / len(tokens)
    missing_numbers = tuple(t for t in tokens if is_number_or_date_token(t) and t not in quote_tokens)
    missing_negations = tuple(t for t in tokens if t in _NEGATIONS and t not in quote_tokens)
    reasons = []
    if share < SUPPORT_SHARE:
        reasons.append(f"only {share:.0%} of content tokens in cited quotes")
    if missing_numbers:
        reasons.append(f"numbers/dates not in cited quotes: {', '.join(missing_numbers)}")
    if missing_negations:
        reasons.append(f"negations not in cited quotes: {', '.join(missing_negations)}")
    return SentenceCheck(
        sentence, cited, not reasons, share, missing_numbers, missing_negations, "; ".join(reasons)
    )


_FRAGMENT_STRIP = " \t\r\n\u00a0“”\"‘’'.,;:!?()"


def _collapse_ws(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def is_quote_covered(sentence: str, citations: Mapping[int, Citation]) -> bool:
    """True if the sentence consists only of verbatim text from the quotes it cites.

    Precisely: the sentence cites at least one returned citation by `[n]`; after removing the
    markers and splitting on ellipses ("…" or "..."), every fragment — with surrounding
    whitespace, quotation marks and punctuation stripped, and whitespace runs collapsed — is
    either empty or a substring of one of the cited quotes (also whitespace-collapsed), and at
    least one fragment is non-empty. Fragment order is not checked. For the extractive backend,
    whose answer is `“quote” [1] “quote” [2]`, every sentence should be covered.
    """
    cited = [citations[n] for n in citation_markers(sentence) if n in citations]
    if not cited:
        return False
    quotes = [_collapse_ws(c.quote) for c in cited]
    any_fragment = False
    for fragment in re.split(r"…|\.\.\.", strip_citation_markers(sentence)):
        frag = _collapse_ws(fragment).strip(_FRAGMENT_STRIP)
        if not frag:
            continue
        any_fragment = True
        if not any(frag in q for q in quotes):
            return False
    return any_fragment


# --------------------------------------------------------------------------- per-question scoring


@dataclass
class _Ratio:
    """A per-question contribution num/den; den == 0 means the metric does not apply."""

    num: float = 0.0
    den: float = 0.0

    @property
    def value(self) -> float | None:
        return self.num / self.den if self.den else None


@dataclass(frozen=True)
class _MetricDef:
    name: str
    description: str
    higher_is_better: bool = True
    fail_rule: Literal["below_one", "zero", "above_zero"] = "below_one"


def _metric_defs(ks: Sequence[int]) -> list[_MetricDef]:
    defs = [
        _MetricDef(
            f"evidence_recall_at_{k}",
            f"answerable questions with a gold evidence span overlapping one of the first {k} passages",
        )
        for k in ks
    ]
    defs += [
        _MetricDef(
            "mrr", "mean 1/rank of the first passage overlapping gold evidence (0 if none)", True, "zero"
        ),
        _MetricDef(
            f"ndcg_at_{NDCG_K}",
            "nDCG@10, relevance = passage overlaps gold evidence; ideal uses min(#evidence spans, 10)",
            True,
            "zero",
        ),
        _MetricDef(
            "answer_hit_rate", "answerable questions whose answer or cited quotes contain a gold answer"
        ),
        _MetricDef(
            "token_f1", "SQuAD token F1 of the answer text against the best gold answer", True, "zero"
        ),
        _MetricDef(
            "quote_exactness",
            "citations whose quote == corpus[start:end] and whose span lies inside a returned passage",
        ),
        _MetricDef("passage_exactness", "passages whose text == corpus[start:end]"),
        _MetricDef(
            "citation_precision",
            "citations (answerable questions) overlapping gold evidence or quoting a gold answer",
        ),
        _MetricDef("citation_recall", "answerable questions with a citation overlapping gold evidence"),
        _MetricDef("quote_coverage", "answer sentences made only of verbatim text from the quotes they cite"),
        _MetricDef(
            "unsupported_sentence_rate",
            "answer sentences not supported by their cited quotes "
            "(60% of content tokens, every number/date and negation)",
            False,
            "above_zero",
        ),
        _MetricDef(
            "quote_cut_rate",
            "citations whose quote starts or ends inside a sentence of the document (evals/quote_cuts.py)",
            False,
            "above_zero",
        ),
        _MetricDef("highlight_validity", "highlights inside their citation's span"),
        _MetricDef(
            "highlight_hit_rate",
            "answered answerable questions with highlights where a highlight holds a gold answer",
        ),
        _MetricDef("hedged_rate", "questions answered with hedged: true", False, "above_zero"),
        _MetricDef("abstention_precision", "abstentions that were on unanswerable questions", True, "zero"),
        _MetricDef("abstention_recall", "unanswerable questions the service abstained on"),
        _MetricDef(
            "false_abstention_rate", "answerable questions the service abstained on", False, "above_zero"
        ),
    ]
    return defs


class QuestionScore(BaseModel):
    """Per-question scores (None = metric not applicable) and diagnostics."""

    id: str
    kind: str
    split: str
    answerable: bool
    abstained: bool
    hedged: bool = False
    confidence: float | None = None
    error: str | None = None
    evidence_spans: list[Span] = Field(default_factory=list)
    scores: dict[str, float | None] = Field(default_factory=dict)
    unsupported_sentences: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


@dataclass
class _Scored:
    question: Question
    score: QuestionScore
    ratios: dict[str, _Ratio] = field(default_factory=dict)


def _coerce_response(raw: Any) -> tuple[AskResponse, str | None]:
    if raw is None:
        return AskResponse(error="missing response"), "missing response"
    if isinstance(raw, AskResponse):
        return raw, raw.error
    try:
        resp = AskResponse.model_validate(raw)
    except ValidationError as exc:
        msg = f"malformed response: {exc.error_count()} validation error(s)"
        return AskResponse(error=msg), msg
    return resp, resp.error


def _score_question(question: Question, raw: Any, corpus: Corpus, ks: Sequence[int]) -> _Scored:
    resp, error = _coerce_response(raw)
    gold = evidence_spans(question, corpus)
    answerable = question.answerable
    abstained = bool(resp.abstained) and error is None
    passages = resp.passages
    citations = resp.citations
    r: dict[str, _Ratio] = {}
    notes: list[str] = []
    if error:
        notes.append(error)

    # retrieval (answerable questions)
    relevant = [any(_span(p).overlaps(g) for g in gold) for p in passages]
    if answerable:
        for k in ks:
            r[f"evidence_recall_at_{k}"] = _Ratio(float(any(relevant[:k])), 1.0)
        first = next((i for i, rel in enumerate(relevant) if rel), None)
        r["mrr"] = _Ratio(0.0 if first is None else 1.0 / (first + 1), 1.0)
        dcg = sum(1.0 / math.log2(i + 2) for i, rel in enumerate(relevant[:NDCG_K]) if rel)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), NDCG_K)))
        r[f"ndcg_at_{NDCG_K}"] = _Ratio(dcg / ideal if ideal else 0.0, 1.0)

    # answer
    if answerable:
        haystack = [resp.answer] + [c.quote for c in citations]
        hit = not abstained and any(answer_in_text(a, h) for a in question.answers for h in haystack)
        r["answer_hit_rate"] = _Ratio(float(hit), 1.0)
        f1 = 0.0 if abstained else max(token_f1(resp.answer, a) for a in question.answers)
        r["token_f1"] = _Ratio(f1, 1.0)

    # grounding: offsets
    passage_spans = [_span(p) for p in passages]
    exact = 0
    for c in citations:
        span = _span(c)
        ok_text = corpus.span_text(span) == c.quote
        ok_inside = any(p.contains(span) for p in passage_spans)
        exact += ok_text and ok_inside
        if not ok_text:
            notes.append(f"citation [{c.n}] quote != corpus[{c.start}:{c.end}] of {c.source}")
        elif not ok_inside:
            notes.append(f"citation [{c.n}] span {c.start}-{c.end} lies outside every returned passage")
    r["quote_exactness"] = _Ratio(float(exact), float(len(citations)))
    passage_ok = 0
    for p in passages:
        ok = corpus.span_text(_span(p)) == p.text
        passage_ok += ok
        if not ok:
            notes.append(f"passage {p.chunk_id or p.source} text != corpus[{p.start}:{p.end}]")
    r["passage_exactness"] = _Ratio(float(passage_ok), float(len(passages)))

    # quotes cut inside a sentence, judged on the document text (evals/quote_cuts.py)
    cuts = checked = 0
    for c in citations:
        text = corpus.text(c.source)
        if text is None or not 0 <= c.start < c.end <= len(text):
            continue
        checked += 1
        cut = quote_cut(text, c.start, c.end)
        if cut.cut:
            cuts += 1
            notes.append(f"citation [{c.n}] {cut.reason}")
    r["quote_cut_rate"] = _Ratio(float(cuts), float(checked))

    # highlights: inside their citation, and (answerable questions) marking a gold answer
    marked = [(c, h) for c in citations for h in c.highlights]
    if marked:
        inside = sum(c.start <= h.start < h.end <= c.end for c, h in marked)
        r["highlight_validity"] = _Ratio(float(inside), float(len(marked)))
        if answerable and not abstained:
            texts = [
                corpus.span_text(Span(source=c.source, start=h.start, end=h.end)) or "" for c, h in marked
            ]
            hit = any(answer_in_text(a, t) for a in question.answers for t in texts)
            r["highlight_hit_rate"] = _Ratio(float(hit), 1.0)

    # grounding: against gold
    if answerable:
        precise = sum(
            any(_span(c).overlaps(g) for g in gold)
            or any(answer_in_text(a, c.quote) for a in question.answers)
            for c in citations
        )
        r["citation_precision"] = _Ratio(float(precise), float(len(citations)))
        cited_gold = any(_span(c).overlaps(g) for c in citations for g in gold)
        r["citation_recall"] = _Ratio(float(cited_gold), 1.0)

    # grounding: sentences of the answer text
    unsupported_sentences: list[str] = []
    if not abstained and resp.answer.strip():
        by_n = {c.n: c for c in citations}
        # A hedged answer opens with a fixed notice that the quotes may not state it exactly: the
        # notice is not a claim about the documents, so only the quotes after it are checked.
        text = resp.answer.removeprefix(HEDGE_TEXT) if resp.hedged else resp.answer
        sentences = split_sentences(text)
        covered = sum(is_quote_covered(s, by_n) for s in sentences)
        r["quote_coverage"] = _Ratio(float(covered), float(len(sentences)))
        checks = [chk for s in sentences if (chk := check_sentence_support(s, by_n)) is not None]
        unsupported = [chk for chk in checks if not chk.supported]
        unsupported_sentences = [f"{chk.sentence} — {chk.reason}" for chk in unsupported]
        r["unsupported_sentence_rate"] = _Ratio(float(len(unsupported)), float(len(checks)))

    # abstention and hedging
    r["hedged_rate"] = _Ratio(float(resp.hedged and error is None and not abstained), 1.0)
    if abstained:
        r["abstention_precision"] = _Ratio(float(not answerable), 1.0)
    if not answerable:
        r["abstention_recall"] = _Ratio(float(abstained), 1.0)
    else:
        r["false_abstention_rate"] = _Ratio(float(abstained), 1.0)

    score = QuestionScore(
        id=question.id,
        kind=question.kind,
        split=question.split,
        answerable=answerable,
        abstained=abstained,
        hedged=bool(resp.hedged) and error is None,
        confidence=None if error else resp.confidence,
        error=error,
        evidence_spans=gold,
        scores={name: ratio.value for name, ratio in r.items()},
        unsupported_sentences=unsupported_sentences,
        notes=notes,
    )
    return _Scored(question, score, r)


# --------------------------------------------------------------------------- aggregation


class BootstrapSettings(BaseModel):
    """How confidence intervals were computed (percentile bootstrap over questions)."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95


class MetricResult(BaseModel):
    """An aggregate metric: point estimate, bootstrap CI, questions counted and failing ids."""

    name: str
    description: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    higher_is_better: bool
    failing: list[str] = Field(default_factory=list)


class EvalReport(BaseModel):
    """Everything one scoring run produced; `model_dump_json()` gives the JSON artefact."""

    n_questions: int
    n_answerable: int
    n_unanswerable: int
    splits: list[str]
    ks: list[int]
    bootstrap: BootstrapSettings
    metrics: dict[str, MetricResult]
    by_kind: dict[str, dict[str, MetricResult]]
    calibration: Calibration = Field(default_factory=lambda: Calibration(n=0))
    questions: list[QuestionScore]

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text of the whole report."""
        return self.model_dump_json(indent=indent)


def bootstrap_ci(
    num: Sequence[float] | np.ndarray,
    den: Sequence[float] | np.ndarray,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of sum(num)/sum(den), resampling questions with replacement.

    Each question contributes a (num, den) pair, so shares of questions (den = 1) and pooled
    shares such as "citations that are exact" (den = #citations) use the same code. The seed is
    fixed so reports are reproducible.
    """
    num_a = np.asarray(num, dtype=float)
    den_a = np.asarray(den, dtype=float)
    if num_a.size == 0 or den_a.sum() <= 0:
        return None, None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num_a.size, size=(resamples, num_a.size))
    nums = num_a[idx].sum(axis=1)
    dens = den_a[idx].sum(axis=1)
    ok = dens > 0
    if not ok.any():
        return None, None
    ratios = nums[ok] / dens[ok]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _is_failing(value: float | None, rule: str) -> bool:
    if value is None:
        return False
    if rule == "below_one":
        return value < 1.0 - 1e-12
    if rule == "zero":
        return value <= 0.0
    return value > 0.0


def _aggregate(
    scored: Sequence[_Scored], defs: Sequence[_MetricDef], settings: BootstrapSettings
) -> dict[str, MetricResult]:
    results: dict[str, MetricResult] = {}
    for d in defs:
        pairs = [
            (s.question.id, s.ratios[d.name])
            for s in scored
            if d.name in s.ratios and s.ratios[d.name].den > 0
        ]
        num = np.array([p.num for _, p in pairs], dtype=float)
        den = np.array([p.den for _, p in pairs], dtype=float)
        value = float(num.sum() / den.sum()) if pairs else None
        low, high = bootstrap_ci(num, den, settings.resamples, settings.seed, settings.confidence)
        results[d.name] = MetricResult(
            name=d.name,
            description=d.description,
            value=value,
            ci_low=low,
            ci_high=high,
            n=len(pairs),
            higher_is_better=d.higher_is_better,
            failing=[qid for qid, p in pairs if _is_failing(p.value, d.fail_rule)],
        )
    return results


def score_run(
    questions: Sequence[Question],
    responses: Mapping[str, Any] | Sequence[Any],
    corpus_root: str | Path | Corpus,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> EvalReport:
    """Score `/ask` responses for `questions` against the corpus under `corpus_root`.

    `responses` is a mapping from question id to a response (dict in the `/ask` shape or an
    `AskResponse`), or a sequence aligned with `questions`. A missing/None response or one
    with an `error` field counts as a non-abstaining answer with nothing in it, so failures
    show up in the scores instead of disappearing from the denominator.
    """
    if isinstance(responses, Mapping):
        lookup: Mapping[str, Any] = responses
    else:
        if len(responses) != len(questions):
            raise ValueError(f"{len(responses)} responses for {len(questions)} questions")
        lookup = {q.id: r for q, r in zip(questions, responses, strict=True)}
    corpus = corpus_root if isinstance(corpus_root, Corpus) else Corpus(corpus_root)
    max_passages = 0
    for q in questions:
        raw = lookup.get(q.id)
        passages = raw.get("passages") if isinstance(raw, Mapping) else getattr(raw, "passages", None)
        max_passages = max(max_passages, len(passages or []))
    ks = [k for k in RECALL_KS if k <= max_passages] or [RECALL_KS[0]]
    scored = [_score_question(q, lookup.get(q.id), corpus, ks) for q in questions]
    defs = _metric_defs(ks)
    settings = BootstrapSettings(resamples=resamples, seed=seed, confidence=confidence)
    by_kind: dict[str, dict[str, MetricResult]] = {}
    for kind in KINDS:
        subset = [s for s in scored if s.question.kind == kind]
        if subset:
            by_kind[kind] = {k: v for k, v in _aggregate(subset, defs, settings).items() if v.n > 0}
    rated = [s.score for s in scored if s.score.confidence is not None]
    calibration = calibrate(
        [float(q.confidence or 0.0) for q in rated],
        [q.answerable for q in rated],
        resamples=resamples,
        seed=seed,
        level=confidence,
    )
    return EvalReport(
        calibration=calibration,
        n_questions=len(questions),
        n_answerable=sum(q.answerable for q in questions),
        n_unanswerable=sum(not q.answerable for q in questions),
        splits=sorted({q.split for q in questions}),
        ks=ks,
        bootstrap=settings,
        metrics=_aggregate(scored, defs, settings),
        by_kind=by_kind,
        questions=[s.score for s in scored],
    )


# --------------------------------------------------------------------------- rendering


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render_markdown(report: EvalReport, max_failing: int = 40) -> str:
    """A human-readable summary: metrics with CIs, a per-kind table and failing question ids."""
    lines = [
        "# Verbatim eval report",
        "",
        f"{report.n_questions} questions ({report.n_answerable} answerable, "
        f"{report.n_unanswerable} unanswerable); splits: {', '.join(report.splits) or '—'}; "
        f"{int(report.bootstrap.confidence * 100)}% CIs from {report.bootstrap.resamples} "
        f"bootstrap resamples (seed {report.bootstrap.seed}).",
        "",
        "| metric | value | 95% CI | n | failing | |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for m in report.metrics.values():
        ci = "—" if m.ci_low is None else f"[{m.ci_low:.3f}, {m.ci_high:.3f}]"
        arrow = "↑" if m.higher_is_better else "↓"
        lines.append(f"| {m.name} | {_fmt(m.value)} | {ci} | {m.n} | {len(m.failing)} | {arrow} |")
    kinds = list(report.by_kind)
    if kinds:
        lines += ["", "## By question kind", "", "| metric | " + " | ".join(kinds) + " |"]
        lines.append("| --- |" + " ---: |" * len(kinds))
        for name in report.metrics:
            cells = []
            for kind in kinds:
                cell = report.by_kind[kind].get(name)
                cells.append("—" if cell is None else f"{_fmt(cell.value)} (n={cell.n})")
            if any(c != "—" for c in cells):
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Calibration of `confidence` (label: the question is answerable)", ""]
    lines.append(render_reliability(report.calibration))
    failing = [(m.name, m.failing) for m in report.metrics.values() if m.failing]
    if failing:
        lines += ["", "## Failing questions", ""]
        for name, ids in failing:
            shown = ", ".join(ids[:max_failing])
            more = f" … and {len(ids) - max_failing} more" if len(ids) > max_failing else ""
            lines.append(f"- **{name}** ({len(ids)}): {shown}{more}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- thresholds


class Bounds(BaseModel):
    """`min` values a metric must reach, `max` values it must not exceed."""

    model_config = ConfigDict(extra="forbid")

    min: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)


class Thresholds(Bounds):
    """Release gates: global bounds for every corpus, and `[corpus.NAME]` tables that add to them or
    override a global bound for one corpus. Metric names are keys of EvalReport.metrics, plus `ece`."""

    corpus: dict[str, Bounds] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Thresholds:
        """Read thresholds from TOML (default: evals/thresholds.toml next to this module)."""
        with open(path or DEFAULT_THRESHOLDS_PATH, "rb") as fh:
            return cls.model_validate(tomllib.load(fh))

    def for_corpus(self, corpus: str | None) -> Bounds:
        """The bounds that apply to one corpus: the global ones, overridden by its own table."""
        own = self.corpus.get(corpus or "", Bounds())
        return Bounds(min={**self.min, **own.min}, max={**self.max, **own.max})

    def check(self, report: EvalReport, corpus: str | None = None) -> list[str]:
        """Human-readable failures; an empty list means every gate passed.

        A metric that was not computed (e.g. recall@5 when fewer than 5 passages came back)
        fails its gate rather than passing silently.
        """
        bounds = self.for_corpus(corpus)
        failures: list[str] = []
        for name, bound in bounds.min.items():
            failures += _check_one(report, name, bound, "min")
        for name, bound in bounds.max.items():
            failures += _check_one(report, name, bound, "max")
        return failures


def _check_one(report: EvalReport, name: str, bound: float, direction: str) -> list[str]:
    failing: list[str] = []
    if name == "ece":
        value = report.calibration.ece
    else:
        metric = report.metrics.get(name)
        value = None if metric is None else metric.value
        failing = [] if metric is None else metric.failing
    if value is None:
        return [f"{name}: not computed (needs >= {bound})" if direction == "min" else f"{name}: not computed"]
    eps = 1e-9
    if direction == "min" and value < bound - eps:
        return [f"{name} = {value:.3f} < {bound} (min); failing: {', '.join(failing[:20])}"]
    if direction == "max" and value > bound + eps:
        return [f"{name} = {value:.3f} > {bound} (max); failing: {', '.join(failing[:20])}"]
    return []


def iter_failing(report: EvalReport) -> Iterable[tuple[str, str]]:
    """(metric, question id) pairs for every failure, handy for CI logs."""
    for metric in report.metrics.values():
        for qid in metric.failing:
            yield metric.name, qid
