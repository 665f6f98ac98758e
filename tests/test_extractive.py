"""Extractive answering on synthetic passages: quotes, hedging, highlights, support."""

from __future__ import annotations

import numpy as np
import pytest

from verbatim.ingest.index.records import ChunkRecord
from verbatim.service.qa.answer_model import FEATURES, AnswerModel
from verbatim.service.qa.engine import render_answer
from verbatim.service.qa.extractive import HEDGE_TEXT, ExtractiveAnswerer, Quote, highlights
from verbatim.service.qa.question import parse
from verbatim.service.qa.retrieval import Hit
from verbatim.service.qa.snapshot import Snapshot
from verbatim.service.qa.wordvectors import WordVectors

TEXT = (
    "Connection pool settings\n\n"
    "The pool keeps idle connections open between requests. "
    "Connections older than the recycle limit are replaced; the default timeout is 30 seconds. "
    "Set pool_recycle to a lower value when the server drops idle links.\n"
)


def _chunk() -> tuple[Snapshot, Hit]:
    start = TEXT.index("The pool")
    end = len(TEXT) - 1
    sentences, cursor = [], start
    for piece in TEXT[start:end].split(". "):
        s = TEXT.index(piece, cursor)
        e = s + len(piece) + (1 if TEXT[s + len(piece) : s + len(piece) + 1] == "." else 0)
        sentences.append((s, e))
        cursor = e
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(len(sentences), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunk = ChunkRecord(
        chunk_id="c1", source="pool.md", sha256="x", title="Connection pool settings", author=None, date=None,
        start=start, end=end, text=TEXT[start:end], vector=vectors[0], sentences=sentences,
        sentence_vectors=vectors, section=("Connection pool settings",),
    )  # fmt: skip
    return Snapshot.of_chunks(1, {}, [chunk]), Hit(chunk=chunk, similarity=0.6, fused=1.0)


def _model(bias: float, answer_at: float = 0.5, abstain_below: float = 0.2) -> AnswerModel:
    zero = (0.0,) * len(FEATURES)
    return AnswerModel(0.3, 0.5, 0.2, 0.05, 0.9, zero, bias, answer_at, abstain_below, 10, 1.0, 1.0)


@pytest.mark.parametrize(
    ("bias", "abstained", "hedged"), [(3.0, False, False), (-0.7, False, True), (-4.0, True, False)]
)
def test_the_confidence_decides_answer_hedge_or_abstain(bias: float, abstained: bool, hedged: bool) -> None:
    snap, hit = _chunk()
    answerer = ExtractiveAnswerer(_model(bias))
    question = parse("What is the default timeout of the pool?")
    got = answerer.answer(snap, question, hit.chunk.sentence_vectors[1], [hit])  # near the timeout
    assert got.abstained is abstained and got.hedged is hedged
    assert 0.0 <= got.confidence <= 1.0
    if not abstained:
        first = got.quotes[0]
        assert TEXT[first.start : first.end] == first.text and "30 seconds" in first.text
        answer, citations = render_answer(got)
        assert answer.startswith(HEDGE_TEXT) is hedged
        assert citations[0].quote == first.text


def test_the_asked_for_value_is_highlighted_inside_the_quote() -> None:
    snap, hit = _chunk()
    answerer = ExtractiveAnswerer(_model(3.0))
    got = answerer.answer(
        snap, parse("What is the default timeout of the pool?"), hit.chunk.sentence_vectors[1], [hit]
    )
    ((s, e),) = got.quotes[0].highlights
    assert got.quotes[0].start <= s < e <= got.quotes[0].end and TEXT[s:e] == "30"
    option = parse("Which setting should I lower when the server drops idle links?")
    quote = Quote(hit, TEXT.index("Set pool_recycle"), len(TEXT) - 1, TEXT[TEXT.index("Set pool") : -1], 1.0)
    assert [TEXT[a:b] for a, b in highlights(quote, option)] == ["pool_recycle"]
    assert highlights(quote, parse("Why do idle links drop?")) == []  # no value asked for


class _Embed:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.table: dict[str, np.ndarray] = {}

    def __call__(self, words: list[str]) -> np.ndarray:
        for w in words:
            if w not in self.table:
                v = self.rng.normal(size=16)
                self.table[w] = v / np.linalg.norm(v)
        return np.stack([self.table[w] for w in words])


def test_support_is_the_weakest_key_word() -> None:
    embed = _Embed()
    embed.table["held"] = embed.table["hold"] = np.eye(16)[1]
    answerer = ExtractiveAnswerer(_model(0.0), word_vectors=WordVectors(embed))
    evidence = "The summit was held in Gabala in October."
    assert answerer.support(parse("Where was the summit held?"), evidence) == 1.0  # every word by stem
    assert answerer.support(parse("Where did they hold the summit?"), evidence) == pytest.approx(1.0)
    assert answerer.support(parse("What did the summit tickets cost?"), evidence) < 0.9
    assert ExtractiveAnswerer(_model(0.0)).support(parse("What did tickets cost?"), evidence) == 0.0


def test_the_next_sentence_is_quoted_too_when_it_holds_question_words_the_best_one_lacks() -> None:
    snap, hit = _chunk()
    answerer = ExtractiveAnswerer(_model(3.0))
    vectors = hit.chunk.sentence_vectors
    # The first sentence is nearest the question, but only the next one says what replaces connections.
    question = parse("Why does the pool keep idle connections open and which are replaced?")
    got = answerer.answer(snap, question, vectors[0], [hit])
    first = got.quotes[0]
    assert first.text.startswith("The pool keeps") and "are replaced" in first.text  # one span, both
    assert TEXT[first.start : first.end] == first.text
    # A next sentence that adds nothing the question asks about is not pulled in.
    alone = answerer.answer(snap, parse("Does the pool keep idle connections open?"), vectors[0], [hit])
    assert alone.quotes[0].text == "The pool keeps idle connections open between requests."


def test_a_sentence_two_on_that_completes_the_answer_is_quoted_with_the_one_between() -> None:
    snap, hit = _chunk()
    answerer = ExtractiveAnswerer(_model(3.0))
    # The first sentence is nearest; the next adds nothing asked; the one after says what to do when the
    # server drops links. The quote runs from the first to the third, one contiguous span.
    question = parse("Does the pool keep idle connections open, and what if the server drops them?")
    got = answerer.answer(snap, question, hit.chunk.sentence_vectors[0], [hit])
    first = got.quotes[0]
    assert first.text.startswith("The pool keeps") and first.text.endswith("drops idle links.")
    assert TEXT[first.start : first.end] == first.text
