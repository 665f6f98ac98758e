"""Extractive answering: the best one to three sentences of the retrieved passages, quoted verbatim.

Each candidate sentence is scored by semantic similarity (its late-chunked vector against the question),
IDF-weighted term overlap, whether it holds a new entity of the kind the question asks for (a sum of
money, a date, a count of the thing counted, a person's name: `service/question.py`) and the rank of its
passage. Whether to answer at all is a logistic model over features of the best sentence, fitted on the
dev questions (`evals/tune.py`) and stored in `answer_model.json`: similarity and term coverage
of sentence and passage, whether the wanted type is missing (the strongest single signal), terms the
corpus never uses, and how well the least-covered key term of the question is supported by the
sentence and its neighbours. A question that names something the documents never mention is not
answered at all, nor is a typed question whose best sentence holds nothing of the type.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from verbatim.ingest.segmenter import classify
from verbatim.service.qa.authorship import authorship_topic, byline_span, searched_text
from verbatim.service.qa.question import (
    AnswerType,
    Lexicon,
    answer_entities,
    answer_type,
    answering,
    counted_noun,
    expands,
    key_terms,
    named_words,
    numbers_with_following,
)
from verbatim.service.qa.retrieval import Hit
from verbatim.service.qa.snapshot import Snapshot
from verbatim.service.qa.text import numbers, stem, terms, words
from verbatim.service.qa.wordvectors import WordVectors

log = logging.getLogger("verbatim.extractive")
MODEL_FILE = Path(__file__).with_name("answer_model.json")
ABSTAIN_TEXT = "The documents do not say. The closest passages are listed below."
MAX_QUOTES = 3


@dataclass(frozen=True)
class AnswerModel:
    """Sentence-scoring weights and the abstention model (logistic regression over FEATURES)."""

    w_semantic: float = 0.5
    w_lexical: float = 0.35
    w_type: float = 0.1
    w_rank: float = 0.05
    second_quote_ratio: float = 0.9
    abstain_weights: tuple[float, ...] = (1.0, 1.0, 1.5, 1.0, -2.0, -0.5, 1.5)
    abstain_bias: float = -4.0

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerModel:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        data["abstain_weights"] = tuple(data.get("abstain_weights", cls.abstain_weights))
        if len(data["abstain_weights"]) != len(FEATURES):
            log.warning(
                "%s was fitted for other features than %s: default weights used; run evals/tune.py",
                path,
                FEATURES,
            )
            return cls()
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


FEATURES = (
    "semantic",
    "lexical",
    "passage_lexical",
    "passage_similarity",
    "type_missing",
    "unknown_terms",
    "support",
)
SOFT_MATCH = 0.5  # word cosine above which two words name the same thing (see service/wordvectors.py)


@dataclass
class Candidate:
    """A sentence of a retrieved passage with its features."""

    hit_rank: int
    hit: Hit
    start: int
    end: int
    semantic: float
    lexical: float
    type_match: float
    score: float = 0.0


@dataclass
class Quote:
    """A verbatim span chosen for the answer."""

    hit: Hit
    start: int
    end: int
    text: str
    score: float


@dataclass
class Extracted:
    """The answer before it is shaped for the API."""

    quotes: list[Quote]
    abstained: bool
    confidence: float
    features: dict[str, float] = field(default_factory=dict)
    abstain_text: str | None = None  # a plainer reason than ABSTAIN_TEXT, when there is one


def is_statement(sentence: str) -> bool:
    """Headings, bylines and labels are not answers: a quotable sentence has a verb-sized body."""
    words = sentence.split()
    if len(words) < 4:
        return False
    return classify(sentence) == "body" or len(words) > 12


def _coverage(snapshot: Snapshot, question_terms: list[str], text_terms: set[str] | frozenset[str]) -> float:
    total = sum(snapshot.term_weight(t) for t in question_terms)
    if total == 0:
        return 0.0
    return sum(snapshot.term_weight(t) for t in question_terms if t in text_terms) / total


def _sentence_facts(
    snapshot: Snapshot, key: tuple[str, int, int], sentence: str
) -> tuple[bool, frozenset[str]]:
    """Whether a sentence is a quotable statement, and its terms: the same for every question, so
    computed once per snapshot (the key is the sentence's raw span)."""
    return snapshot.memo(("sentence", *key), lambda: (is_statement(sentence), frozenset(terms(sentence))))


class ExtractiveAnswerer:
    """Answer from retrieved passages with verbatim sentences, or abstain."""

    def __init__(self, model: AnswerModel | None = None, word_vectors: WordVectors | None = None) -> None:
        self.model = model or AnswerModel.load()
        self.word_vectors = word_vectors

    def rescore(self, cands: list[Candidate]) -> list[Candidate]:
        """Score candidates with the current weights, best first."""
        m = self.model
        for c in cands:
            c.score = (
                m.w_semantic * c.semantic
                + m.w_lexical * c.lexical
                + m.w_type * c.type_match
                + m.w_rank / (1 + c.hit_rank)
            )
        return sorted(cands, key=lambda c: -c.score)

    def candidates(
        self, snapshot: Snapshot, question: str, query_vector: np.ndarray, hits: list[Hit]
    ) -> list[Candidate]:
        """Every sentence of the retrieved passages, scored (each raw span once)."""
        question = searched_text(question)
        qterms = list(dict.fromkeys(terms(question)))
        kind = answer_type(question)
        seen: set[tuple[str, int, int]] = set()
        out: list[Candidate] = []
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            if not chunk.sentences:
                continue
            sims = chunk.sentence_vectors @ query_vector
            for (start, end), sim in zip(chunk.sentences, sims, strict=True):
                key = (chunk.source, start, end)
                if key in seen:
                    continue
                seen.add(key)
                sentence = chunk.text[start - chunk.start : end - chunk.start]
                statement, sentence_terms = _sentence_facts(snapshot, key, sentence)
                if not statement:
                    continue
                lexical = _coverage(snapshot, qterms, sentence_terms)
                typed = float(
                    kind == "other"
                    or bool(answering(_entities(snapshot, key, sentence, kind), sentence, kind, question))
                )
                out.append(Candidate(rank, hit, start, end, float(sim), lexical, typed))
        return self.rescore(out)

    def features(self, snapshot: Snapshot, question: str, best: Candidate) -> dict[str, float]:
        """Inputs of the abstention model for the best candidate."""
        question = searched_text(question)
        qterms = list(dict.fromkeys(terms(question)))
        chunk = best.hit.chunk
        passage_terms = snapshot.memo(
            ("passage_terms", chunk.chunk_id), lambda: frozenset(terms(f"{chunk.title} {chunk.text}"))
        )
        window = _window(best)
        return {
            "semantic": best.semantic,
            "lexical": best.lexical,
            "passage_lexical": _coverage(snapshot, qterms, passage_terms),
            "passage_similarity": best.hit.similarity,
            # The question wants a figure, date or name and the best sentence offers no new one.
            "type_missing": float(not self._type_found(question, best, window)),
            "unknown_terms": _coverage(snapshot, qterms, {t for t in qterms if t not in snapshot.idf}),
            "support": self.support(question, f"{chunk.title} {window}"),
        }

    def support(self, question: str, evidence: str) -> float:
        """How well the least-covered thing the question asks about is covered by the evidence: 1 when
        every key term occurs (by stem), else the best word cosine of the weakest missing term. One
        unmatched concept ("price", "email", "refugees") is what marks a question the text cannot answer."""
        wanted = key_terms(question)
        have = words(evidence)
        stems = {stem(w) for w in have}
        missing = [k for k in wanted if stem(k) not in stems]
        if not missing:
            return 1.0
        if self.word_vectors is None:
            return 0.0
        return float(self.word_vectors.best_match(missing, have).min())

    def _type_found(self, question: str, best: Candidate, window: str) -> bool:
        """The best sentence has a new entity of the wanted type; for "how many X" a new number counting X
        (or a word like it) must stand in the sentence or its neighbours."""
        kind = answer_type(question)
        if kind == "other":
            return True
        if not best.type_match:
            return False
        noun = counted_noun(question) if kind == "count" else None
        if noun is None:
            return True
        asked = numbers(question)
        following = [
            w for n, after in numbers_with_following(window) if n.replace(",", "") not in asked for w in after
        ]
        if any(stem(w) == stem(noun) for w in following):
            return True
        if self.word_vectors is None or not following:
            return False
        return bool(self.word_vectors.best_match([noun], following)[0] >= SOFT_MATCH)

    def confidence(self, features: dict[str, float]) -> float:
        """Probability that the documents answer the question."""
        z = self.model.abstain_bias + sum(
            w * features[name] for w, name in zip(self.model.abstain_weights, FEATURES, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-z))

    def answer(
        self, snapshot: Snapshot, question: str, query_vector: np.ndarray, hits: list[Hit]
    ) -> Extracted:
        """Pick up to three verbatim quotes, or abstain when the confidence is below one half."""
        return self.choose(snapshot, question, self.candidates(snapshot, question, query_vector, hits), hits)

    def choose(
        self, snapshot: Snapshot, question: str, ranked: list[Candidate], hits: Sequence[Hit] = ()
    ) -> Extracted:
        """The answer from ranked candidates (split out so tuning can rescore without re-retrieving).
        `hits` are the retrieved passages: an authorship question is answered from the byline among them."""
        topic = authorship_topic(question)
        extracted = self._choose(snapshot, topic or question, ranked)
        if topic is None or extracted.abstained:
            return extracted
        return _byline_answer(snapshot, extracted, ranked, hits)

    def _choose(self, snapshot: Snapshot, question: str, ranked: list[Candidate]) -> Extracted:
        if not ranked:
            return Extracted([], True, 0.0)
        best = ranked[0]
        features = self.features(snapshot, question, best)
        # A question naming something the documents never mention, or a typed one whose best sentence,
        # even ranked with the type bonus, holds no new thing of the kind asked for: no quote could
        # answer it (the type rule on dev: 15 of 40 unanswerable questions, 0 of 91 answerable ones;
        # the logistic model alone weighed that against high term overlap).
        if features["type_missing"] or unknown_name(snapshot, question, ranked) is not None:
            return Extracted([], True, 0.0, features)
        confidence = self.confidence(features)
        if confidence < 0.5:
            return Extracted([], True, confidence, features)
        chosen = [best]
        for cand in ranked[1:]:
            if len(chosen) >= MAX_QUOTES or cand.score < self.model.second_quote_ratio * best.score:
                break
            if any(
                c.hit.chunk.source == cand.hit.chunk.source and c.start < cand.end and cand.start < c.end
                for c in chosen
            ):
                continue
            chosen.append(cand)
        return Extracted(_join_neighbours(chosen), False, confidence, features)


def _byline_answer(
    snapshot: Snapshot, about: Extracted, ranked: list[Candidate], hits: Sequence[Hit]
) -> Extracted:
    """Who wrote the article the documents hold on a topic they cover: its byline, quoted, then the
    article's best sentence on the topic (so the reader sees which article it is). The article is the
    top passage's, the one whose byline passage retrieval kept among the hits."""
    article = (hits[0] if hits else ranked[0].hit).chunk
    found = byline_span(snapshot, article)
    byline = None if found is None else snapshot.chunks[found[0]].chunk_id
    byline_hit = next((h for h in hits if h.chunk.chunk_id == byline), None)
    if found is None or byline_hit is None:
        named = f"“{article.title}”" if article.title else "the article"
        reason = f"The documents do not name the author of {named}. The closest passages are listed below."
        return Extracted([], True, 0.0, about.features, abstain_text=reason)
    _, start, end = found
    chunk = byline_hit.chunk
    text = chunk.text[start - chunk.start : end - chunk.start]
    quotes = [Quote(byline_hit, start, end, text, ranked[0].score)]
    same_article = (article.source, article.title)
    on_topic = next((c for c in ranked if (c.hit.chunk.source, c.hit.chunk.title) == same_article), None)
    if on_topic is not None and (on_topic.hit.chunk.chunk_id, on_topic.start) != (chunk.chunk_id, start):
        quotes.append(_quote(on_topic))
    return Extracted(quotes, False, about.confidence, about.features)


def _entities(snapshot: Snapshot, key: tuple[str, int, int], sentence: str, kind: AnswerType) -> list[str]:
    """The entities of a kind in a sentence: the same for every question, so found once per snapshot."""
    return snapshot.memo(
        ("entities", *key, kind), lambda: answer_entities(sentence, kind, corpus_lexicon(snapshot))
    )


def corpus_lexicon(snapshot: Snapshot) -> Lexicon:
    """The names the snapshot's text teaches (nationalities, surnames), built once per snapshot."""
    return snapshot.memo(("lexicon",), lambda: Lexicon.build((c.text for c in snapshot.chunks), snapshot.idf))


def unknown_name(snapshot: Snapshot, question: str, ranked: list[Candidate]) -> str | None:
    """A name in the question that the documents never use ("the capital of Mars"): nothing in them can
    answer it. Acronyms count as known when a retrieved passage spells them out ("IRI")."""
    passages = None
    for name in named_words(question):
        if all(t in snapshot.idf for t in terms(name)):
            continue
        if passages is None:
            passages = " ".join(dict.fromkeys(c.hit.chunk.text for c in ranked))
        if not expands(name, passages):
            return name
    return None


def _window(cand: Candidate) -> str:
    """The candidate sentence with its neighbours in the chunk (a fact is often split over two)."""
    chunk = cand.hit.chunk
    spans = chunk.sentences
    i = next((k for k, (s, _) in enumerate(spans) if s == cand.start), None)
    if i is None:
        return chunk.text[cand.start - chunk.start : cand.end - chunk.start]
    first, last = spans[max(0, i - 1)][0], spans[min(len(spans) - 1, i + 1)][1]
    return chunk.text[first - chunk.start : last - chunk.start]


def _join_neighbours(chosen: list[Candidate]) -> list[Quote]:
    """Sentences that follow each other in the same chunk become one quote (a raw, contiguous span)."""
    chosen = sorted(chosen, key=lambda c: (c.hit_rank, c.start))
    quotes: list[Quote] = []
    for cand in chosen:
        chunk = cand.hit.chunk
        prev = quotes[-1] if quotes else None
        if (
            prev is not None
            and prev.hit.chunk.chunk_id == chunk.chunk_id
            and not chunk.text[prev.end - chunk.start : cand.start - chunk.start].strip()
        ):
            prev.end = cand.end
            prev.text = chunk.text[prev.start - chunk.start : prev.end - chunk.start]
            prev.score = max(prev.score, cand.score)
            continue
        quotes.append(_quote(cand))
    quotes.sort(key=lambda q: -q.score)
    return quotes


def _quote(cand: Candidate) -> Quote:
    """A candidate sentence as a quote: its raw span and text."""
    chunk = cand.hit.chunk
    text = chunk.text[cand.start - chunk.start : cand.end - chunk.start]
    return Quote(cand.hit, cand.start, cand.end, text, cand.score)
