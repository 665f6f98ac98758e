"""Extractive answering: the best one to three sentences of the retrieved passages, quoted verbatim.

Each candidate sentence (a sentence of a paragraph, a list item or a table row, as ingest found them) is
ranked by its similarity to the question (its late-chunked vector), the IDF-weighted share of the
question's terms it and its neighbours hold, whether it offers a value of the kind asked for
(`question.py`) and its passage's rank. Whether the documents answer at all is a calibrated probability
(`answer_model.py`): above the operating point the quotes are the answer; in the uncertain zone they are
still shown, hedged ("the documents may not state this exactly"), because a user is served better by
the closest evidence than by a wrong "the documents do not say"; below it, the answer abstains.
Where the question asks for a value, the value inside the first quote is marked (`highlights`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from verbatim.ingest.index.records import ChunkRecord
from verbatim.ingest.segmenter import classify
from verbatim.service.qa.answer_model import AnswerModel
from verbatim.service.qa.authorship import byline_span
from verbatim.service.qa.question import ParsedQuestion, new_values, offers_value
from verbatim.service.qa.retrieval import Hit
from verbatim.service.qa.snapshot import Snapshot
from verbatim.service.qa.text import stem, terms, words
from verbatim.service.qa.wordvectors import WordVectors

ABSTAIN_TEXT = "The documents do not say. The closest passages are listed below."
HEDGE_TEXT = "The documents may not state this exactly; the closest evidence:"
MAX_QUOTES = 3
# How far past the best sentence an answer may run to reach what completes it ("Specifies the minimum
# RSA key size … Smaller keys will cause the connection to be terminated. The default is 1024 bits.").
CONTINUATION_SENTENCES = 2
_WORD = re.compile(r"[^\W_]+")


@dataclass
class Candidate:
    """A sentence of a retrieved passage with its ranking inputs."""

    hit_rank: int
    hit: Hit
    start: int
    end: int
    semantic: float
    lexical: float  # of the sentence itself: what ranks it
    type_match: float
    window_lexical: float = 0.0  # of the sentence and its neighbours: what the confidence reads
    score: float = 0.0


@dataclass
class Quote:
    """A verbatim span chosen for the answer; `highlights` mark the asked-for value (absolute offsets)."""

    hit: Hit
    start: int
    end: int
    text: str
    score: float
    highlights: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Extracted:
    """The answer before it is shaped for the API."""

    quotes: list[Quote]
    abstained: bool
    confidence: float
    hedged: bool = False
    features: dict[str, float] = field(default_factory=dict)
    abstain_text: str | None = None  # a plainer reason than ABSTAIN_TEXT, when there is one


def is_statement(sentence: str, headings: tuple[str, ...] = (), structured: bool = False) -> bool:
    """Headings, bylines and labels are not answers; list items and table rows with a few words are.

    In a structured document (Markdown, reST, man pages, HTML, PDF, DOCX) ingest knows the headings: a
    unit that is not one of them is content, however short and unpunctuated ("127  if the command is
    not found"). A page without structure is judged by the shape of the line."""
    count = len(sentence.split())
    if count < 3:
        return False
    if structured:
        return " ".join(sentence.split()) not in headings
    return count > 12 or classify(sentence) == "body"


def coverage(snapshot: Snapshot, question_terms: list[str], text_terms: set[str] | frozenset[str]) -> float:
    """IDF-weighted share of the question's terms found in a text."""
    total = sum(snapshot.term_weight(t) for t in question_terms)
    if total == 0:
        return 0.0
    return sum(snapshot.term_weight(t) for t in question_terms if t in text_terms) / total


def _sentence_facts(
    snapshot: Snapshot, chunk: ChunkRecord, start: int, end: int
) -> tuple[bool, frozenset[str]]:
    """Whether a sentence of a chunk is quotable, and its terms: the same for every question, so kept
    (by file version)."""

    def facts() -> tuple[bool, frozenset[str]]:
        record = snapshot.documents.get(chunk.source)
        structured = bool(record is not None and record.sections)
        sentence = chunk.text[start - chunk.start : end - chunk.start]
        return is_statement(sentence, chunk.section, structured), frozenset(terms(sentence))

    return snapshot.memo("sentence", (chunk.source, chunk.sha256, start, end), facts)


class ExtractiveAnswerer:
    """Answer from retrieved passages with verbatim sentences: answer, hedge or abstain."""

    def __init__(self, model: AnswerModel | None = None, word_vectors: WordVectors | None = None) -> None:
        self.model = model or AnswerModel.load()
        self.word_vectors = word_vectors

    # -- ranking ----------------------------------------------------------------------------------
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
        self, snapshot: Snapshot, question: ParsedQuestion, query_vector: np.ndarray, hits: list[Hit]
    ) -> list[Candidate]:
        """Every quotable sentence of the retrieved passages, scored (each raw span once)."""
        qterms = question.terms
        seen: set[tuple[str, int, int]] = set()
        out: list[Candidate] = []
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            if not chunk.sentences:
                continue
            sims = chunk.sentence_vectors @ query_vector
            for i, ((start, end), sim) in enumerate(zip(chunk.sentences, sims, strict=True)):
                key = (chunk.source, start, end)
                if key in seen:
                    continue
                seen.add(key)
                sentence = chunk.text[start - chunk.start : end - chunk.start]
                statement, sentence_terms = _sentence_facts(snapshot, chunk, start, end)
                if not statement:
                    continue
                window_terms = sentence_terms | _neighbour_terms(snapshot, chunk, i)
                # Ranked by what the sentence itself holds (the quote must answer); the window (a fact
                # split over two sentences) feeds the confidence.
                lexical = coverage(snapshot, qterms, sentence_terms)
                window = coverage(snapshot, qterms, window_terms)
                typed = float(offers_value(sentence, question))
                out.append(Candidate(rank, hit, start, end, float(sim), lexical, typed, window))
        return self.rescore(out)

    # -- confidence -------------------------------------------------------------------------------
    def features(self, snapshot: Snapshot, question: ParsedQuestion, best: Candidate) -> dict[str, float]:
        """Inputs of the confidence model for the best candidate."""
        qterms = question.terms
        chunk = best.hit.chunk
        passage_terms = snapshot.memo(
            "passage_terms", chunk.chunk_id, lambda: frozenset(terms(f"{chunk.title} {chunk.text}"))
        )
        index = _sentence_index(best)
        window = _window_text(chunk, index) if index is not None else chunk.text
        return {
            "semantic": best.semantic,
            "lexical": best.window_lexical,
            "passage_lexical": coverage(snapshot, qterms, passage_terms),
            "passage_similarity": best.hit.similarity,
            "offers_value": float(offers_value(window, question)),
            "unknown_terms": coverage(snapshot, qterms, {t for t in qterms if not snapshot.knows_term(t)}),
            "support": self.support(question, f"{chunk.title} {window}"),
        }

    def support(self, question: ParsedQuestion, evidence: str) -> float:
        """How well the least-covered thing the question asks about is covered by the evidence: 1 when
        every key word occurs (by stem), else the best word cosine of the weakest missing word."""
        have = words(evidence)
        stems = {stem(w) for w in have}
        missing = [k for k in question.key_words if stem(k) not in stems]
        if not missing:
            return 1.0
        if self.word_vectors is None or not have:
            return 0.0
        return float(self.word_vectors.best_match(missing, have).min())

    # -- the answer -------------------------------------------------------------------------------
    def answer(
        self, snapshot: Snapshot, question: ParsedQuestion, query_vector: np.ndarray, hits: list[Hit]
    ) -> Extracted:
        """Up to three verbatim quotes, answered, hedged or withheld by the calibrated confidence."""
        return self.choose(snapshot, question, self.candidates(snapshot, question, query_vector, hits), hits)

    def choose(
        self, snapshot: Snapshot, question: ParsedQuestion, ranked: list[Candidate], hits: Sequence[Hit] = ()
    ) -> Extracted:
        """The answer from ranked candidates (split out so tuning can rescore without re-retrieving)."""
        if not ranked:
            return Extracted([], True, 0.0)
        best = ranked[0]
        features = self.features(snapshot, question, best)
        confidence = self.model.confidence(features)
        decision = self.model.decide(confidence)
        if decision == "abstain":
            return Extracted([], True, confidence, features=features)
        if question.authorship:
            return _byline_answer(snapshot, confidence, features, ranked, hits)
        chosen = [best]
        limit = MAX_QUOTES if decision == "answer" else 2
        for cand in ranked[1:]:
            if len(chosen) >= limit or cand.score < self.model.second_quote_ratio * best.score:
                break
            if any(_overlap(c, cand) for c in chosen):
                continue
            chosen.append(cand)
        run = _following(best, ranked, CONTINUATION_SENTENCES)
        for k, following in enumerate(run):
            if _continues(snapshot, question, best, following):
                chosen.extend(c for c in run[: k + 1] if c not in chosen)
                break
        quotes = _join_neighbours(chosen)
        if question.wants is not None:
            quotes[0].highlights = highlights(quotes[0], question)
        return Extracted(quotes, False, confidence, hedged=decision == "hedge", features=features)


def highlights(quote: Quote, question: ParsedQuestion) -> list[tuple[int, int]]:
    """The asked-for value inside a quote (absolute offsets): of the values of the wanted kind that the
    question does not state, the one nearest the question's words in the quote."""
    if question.wants is None:
        return []
    found = new_values(quote.text, question.wants, question.searched)
    if not found:
        return []
    stems = {stem(w) for w in question.key_words}
    anchors = [m.start() for m in _WORD.finditer(quote.text) if stem(m.group(0).lower()) in stems]

    def distance(span: tuple[int, int]) -> float:
        return min((abs(span[0] - a) for a in anchors), default=0.0)

    s, e = min(found, key=distance)
    return [(quote.start + s, quote.start + e)]


def _continues(snapshot: Snapshot, question: ParsedQuestion, best: Candidate, following: Candidate) -> bool:
    """Whether a sentence shortly after the best one completes its answer, so it is quoted with the best
    one and any sentence between: it holds the asked-for value the best one lacks ("… terminated. The
    default is 1024."), or question words the best one lacks ("There are many versions of the MIT
    license. Please use Expat instead …")."""
    if question.wants is not None and not best.type_match:
        return bool(following.type_match)
    asked = set(question.terms)
    have = _sentence_facts(snapshot, best.hit.chunk, best.start, best.end)[1]
    then = _sentence_facts(snapshot, following.hit.chunk, following.start, following.end)[1]
    return bool((then - have) & asked)


def _following(cand: Candidate, ranked: list[Candidate], n: int) -> list[Candidate]:
    """The candidates for the up to `n` sentences right after `cand` in its chunk, in order (stopping
    at one that was not a candidate, so that quoting them all keeps the quote contiguous)."""
    index = _sentence_index(cand)
    if index is None:
        return []
    chunk_id = cand.hit.chunk.chunk_id
    by_start = {c.start: c for c in ranked if c.hit.chunk.chunk_id == chunk_id}
    run: list[Candidate] = []
    for s, _ in cand.hit.chunk.sentences[index + 1 : index + 1 + n]:
        found = by_start.get(s)
        if found is None:
            break
        run.append(found)
    return run


def _overlap(a: Candidate, b: Candidate) -> bool:
    return a.hit.chunk.source == b.hit.chunk.source and a.start < b.end and b.start < a.end


def _sentence_index(cand: Candidate) -> int | None:
    return next((k for k, (s, _) in enumerate(cand.hit.chunk.sentences) if s == cand.start), None)


def _window_text(chunk: ChunkRecord, index: int) -> str:
    """A sentence with its neighbours in the chunk (a fact is often split over two)."""
    spans = chunk.sentences
    first, last = spans[max(0, index - 1)][0], spans[min(len(spans) - 1, index + 1)][1]
    return chunk.text[first - chunk.start : last - chunk.start]


def _neighbour_terms(snapshot: Snapshot, chunk: ChunkRecord, index: int) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for j in (index - 1, index + 1):
        if 0 <= j < len(chunk.sentences):
            s, e = chunk.sentences[j]
            out |= _sentence_facts(snapshot, chunk, s, e)[1]
    return out


def _byline_answer(
    snapshot: Snapshot,
    confidence: float,
    features: dict[str, float],
    ranked: list[Candidate],
    hits: Sequence[Hit],
) -> Extracted:
    """Who wrote the article the documents hold on a topic they cover: its byline, quoted, then the
    article's best sentence on the topic (so the reader sees which article it is)."""
    article = (hits[0] if hits else ranked[0].hit).chunk
    found = byline_span(snapshot, article)
    byline = None if found is None else found[0]
    byline_hit = next((h for h in hits if h.chunk.chunk_id == byline), None)
    if found is None or byline_hit is None:
        named = f"“{article.title}”" if article.title else "the article"
        reason = f"The documents do not name the author of {named}. The closest passages are listed below."
        return Extracted([], True, 0.0, features=features, abstain_text=reason)
    _, start, end = found
    chunk = byline_hit.chunk
    text = chunk.text[start - chunk.start : end - chunk.start]
    quotes = [Quote(byline_hit, start, end, text, ranked[0].score)]
    same_article = (article.source, article.title)
    on_topic = next((c for c in ranked if (c.hit.chunk.source, c.hit.chunk.title) == same_article), None)
    if on_topic is not None and (on_topic.hit.chunk.chunk_id, on_topic.start) != (chunk.chunk_id, start):
        quotes.append(_quote(on_topic))
    return Extracted(quotes, False, confidence, features=features)


def _join_neighbours(chosen: list[Candidate]) -> list[Quote]:
    """Sentences that follow each other in the same chunk become one quote (a raw, contiguous span);
    the best quote comes first."""
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
    chunk = cand.hit.chunk
    text = chunk.text[cand.start - chunk.start : cand.end - chunk.start]
    return Quote(cand.hit, cand.start, cand.end, text, cand.score)
