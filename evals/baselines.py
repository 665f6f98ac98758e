"""Plain baselines for `verbatim eval --compare`: BM25 and dense retrieval over naive 1,000-character chunks.

They answer "is the system's retrieval better than the obvious thing?" on the same documents in the same
run. Each document's text (the same text the scorer reads: the file for text formats, the served
extraction for converted ones) is cut into consecutive, non-overlapping 1,000-character windows, with
no cleaning, no titles and no structure. Lexical: bm25s with its default tokeniser and English
stopwords. Dense: the project's encoder over each window, truncated to the model's input length as
sentence-transformers would do, cosine similarity to the bare question. The responses have passages
only, so only the retrieval metrics of their reports mean anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bm25s
import numpy as np

from verbatim.evals.scoring import Corpus, Question
from verbatim.ingest.index.embedder import Encoder

WINDOW = 1000
BASELINES = ("bm25-1000", "dense-1000")


@dataclass(frozen=True)
class Window:
    source: str
    start: int
    end: int
    text: str


def naive_windows(corpus: Corpus, sources: Sequence[str], size: int = WINDOW) -> list[Window]:
    """Consecutive `size`-character windows of every readable document (whitespace-only ones dropped)."""
    out: list[Window] = []
    for source in sources:
        text = corpus.text(source)
        if text is None:
            continue
        for start in range(0, len(text), size):
            piece = text[start : start + size]
            if piece.strip():
                out.append(Window(source, start, start + len(piece), piece))
    return out


def _truncate(encoder: Encoder, text: str) -> str:
    """The text cut to the model's input length (in tokens, special tokens included)."""
    encoding = encoder.tokenizer.encode(text)
    limit = encoder.max_seq_length - 1  # the closing special token
    if len(encoding.ids) <= encoder.max_seq_length:
        return text
    return text[: encoding.offsets[limit - 1][1]]


class NaiveIndex:
    """An in-memory index of naive windows with a BM25 and (given an encoder) a dense ranking."""

    def __init__(self, windows: Sequence[Window], encoder: Encoder | None = None) -> None:
        if not windows:
            raise ValueError("no document text to index for the baselines")
        self.windows = list(windows)
        self.bm25 = bm25s.BM25()
        self.bm25.index(
            bm25s.tokenize([w.text for w in self.windows], stopwords="en", show_progress=False),
            show_progress=False,
        )
        self.encoder = encoder
        self.vectors: np.ndarray | None = None
        if encoder is not None:
            self.vectors = encoder.embed([_truncate(encoder, w.text) for w in self.windows])

    def _passages(self, order: Sequence[int], scores: Sequence[float]) -> list[dict[str, Any]]:
        return [
            {
                "chunk_id": f"{self.windows[i].source}:{self.windows[i].start}",
                "source": self.windows[i].source,
                "start": self.windows[i].start,
                "end": self.windows[i].end,
                "text": self.windows[i].text,
                "score": float(s),
            }
            for i, s in zip(order, scores, strict=True)
        ]

    def lexical(self, question: str, k: int) -> list[dict[str, Any]]:
        tokens = bm25s.tokenize([question], stopwords="en", show_progress=False)
        k = min(k, len(self.windows))
        if not tokens.vocab:  # every word a stopword: nothing to rank by
            return []
        docs, scores = self.bm25.retrieve(tokens, k=k, show_progress=False)
        keep = [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        return self._passages([d for d, _ in keep], [s for _, s in keep])

    def dense(self, question: str, k: int) -> list[dict[str, Any]]:
        if self.encoder is None or self.vectors is None:
            raise ValueError("dense baseline without an encoder")
        sims = self.vectors @ self.encoder.embed([_truncate(self.encoder, question)])[0]
        order = np.argsort(-sims)[:k]
        return self._passages([int(i) for i in order], [float(sims[i]) for i in order])


def baseline_responses(
    index: NaiveIndex, questions: Sequence[Question], k: int = 10
) -> dict[str, dict[str, dict[str, Any]]]:
    """For each baseline, a retrieval-only `/ask`-shaped response per question (top `k` windows)."""
    out: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in BASELINES}
    for q in questions:
        out["bm25-1000"][q.id] = {"answer": "", "passages": index.lexical(q.question, k)}
        if index.encoder is not None:
            out["dense-1000"][q.id] = {"answer": "", "passages": index.dense(q.question, k)}
    return {name: answers for name, answers in out.items() if answers}
