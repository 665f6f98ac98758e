"""Word vectors for soft term matching: cached, batch-independent, warmed off the request path."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from verbatim.service.qa.engine import WARM_UP_ENDED, Engine
from verbatim.service.qa.wordvectors import WordVectors


class _CountingEmbed:
    """A deterministic stand-in for the encoder: one fixed random unit vector per word."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.rng = np.random.default_rng(0)
        self.table: dict[str, np.ndarray] = {}

    def __call__(self, words: list[str]) -> np.ndarray:
        self.seen.extend(words)
        rows = []
        for w in words:
            if w not in self.table:
                v = self.rng.normal(size=16)
                self.table[w] = v / np.linalg.norm(v)
            rows.append(self.table[w])
        return np.stack(rows)


def test_word_vectors_embed_each_word_once_and_match_softly() -> None:
    embed = _CountingEmbed()
    vectors = WordVectors(embed, capacity=100)
    embed.table["cost"] = embed.table["price"] = np.eye(16)[0]
    sims = vectors.best_match(["cost", "wagon"], ["price", "train", "price"])
    assert sims[0] == pytest.approx(1.0) and sims[1] < 0.9
    vectors.best_match(["cost"], ["price"])
    assert sorted(embed.seen) == ["cost", "price", "train", "wagon"]  # cached after the first call
    assert vectors.best_match([], ["x"]).shape == (0,)
    assert vectors.best_match(["x"], []).tolist() == [0.0]


def test_warm_embeds_only_what_is_missing_in_batches() -> None:
    embed = _CountingEmbed()
    vectors = WordVectors(embed, capacity=10)
    vectors.vectors(["a"])
    assert vectors.warm(["a", "b", "c", "b", "d"], batch=2) == 3
    assert embed.seen == ["a", "b", "c", "d"]
    assert vectors.warm([f"w{i}" for i in range(50)]) == 6  # never past the capacity


def test_warm_stops_when_asked() -> None:
    embed = _CountingEmbed()
    calls = iter([False, True])
    assert WordVectors(embed).warm(["a", "b", "c", "d"], batch=2, should_stop=lambda: next(calls)) == 2
    assert embed.seen == ["a", "b"]


def test_engine_stop_waits_for_the_warm_up(tmp_path: Path) -> None:
    """A process must not exit while the warm-up runs the model in native code (that aborts it)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(" ".join(f"Word{i} appears in sentence number {i}." for i in range(400)))
    engine = Engine(make_settings(tmp_path / "data", corpus))
    engine.start()
    warm_up = engine._warm_thread
    assert warm_up is not None
    engine.stop()
    assert not warm_up.is_alive()


def test_the_warm_up_logs_its_end_even_when_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The latency benchmark waits for this line before it measures; a failed warm-up must not hang it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Wheat reached Armenia by train from Kazakhstan in November.")

    def broken(*_: object, **__: object) -> int:
        raise RuntimeError("no model")

    engine = Engine(make_settings(tmp_path / "data", corpus))
    assert engine.answerer.word_vectors is not None
    monkeypatch.setattr(engine.answerer.word_vectors, "warm", broken)
    with caplog.at_level(logging.INFO, logger="verbatim.engine"):
        engine.start()
        assert engine._warm_thread is not None
        assert engine.wait_for_warm_up(timeout=60)
        assert not engine._warm_thread.is_alive()
        engine.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "verbatim.engine"]
    assert any(m.startswith("word-vector warm-up failed") for m in messages)
    assert any(m.startswith(f"{WARM_UP_ENDED}: 0 word vectors") for m in messages)


def test_a_word_vector_does_not_depend_on_its_batch(seeded_engine: Engine) -> None:
    """The int8 encoder quantises each batch with one scale: words are embedded alone, so a word's
    vector (and every answer that uses it) is the same whatever was embedded with it."""
    alone = seeded_engine._embed_words(["price"])
    together = seeded_engine._embed_words(["international", "price", "supercalifragilistic reconstruction"])
    assert np.array_equal(alone[0], together[1])


def test_the_engine_warms_the_index_vocabulary(seeded_engine: Engine) -> None:
    deadline = time.monotonic() + 60
    while (
        any(t.name == "answerability-warm-up" for t in threading.enumerate()) and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    cached = seeded_engine.answerer.word_vectors._cache  # type: ignore[union-attr]
    assert {"wheat", "armenia", "corridor"} <= set(cached)


def test_word_vector_cache_is_bounded() -> None:
    vectors = WordVectors(_CountingEmbed(), capacity=3)
    vectors.vectors(["a", "b", "c"])
    vectors.vectors(["d", "e"])
    assert len(vectors._cache) <= 3
