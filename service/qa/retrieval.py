"""Hybrid retrieval: dense search in Chroma + BM25 (`lexical.py`), fused (`fuse`: a weighted sum of
normalised scores, or weighted reciprocal rank; which one is fitted, `answer_model.json`).

A question asking who wrote an article is searched by its topic, and the byline passage of the article
found is kept among the hits (`service/authorship.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from verbatim.ingest.index.embedder import Encoder
from verbatim.ingest.index.records import ChunkRecord
from verbatim.ingest.index.store import IndexStore
from verbatim.service.qa.answer_model import AnswerModel, Fusion
from verbatim.service.qa.authorship import byline_span
from verbatim.service.qa.question import ParsedQuestion
from verbatim.service.qa.snapshot import Snapshot
from verbatim.service.qa.text import terms

Mode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class RetrievalConfig:
    """Fusion parameters. The fusion and its weights are fitted (`answer_model.json`: `of` reads them,
    `fitted` writes them back); how many candidates each side fetches and what counts as a near-duplicate
    are design choices."""

    rrf_k: float
    dense_weight: float
    lexical_weight: float
    fusion: Fusion = "rrf"
    fetch: int = 30
    duplicate_jaccard: float = 0.6

    @classmethod
    def of(cls, model: AnswerModel) -> RetrievalConfig:
        """The fusion an answer model was fitted with."""
        return cls(model.rrf_k, model.dense_weight, model.lexical_weight, model.fusion)

    def fitted(self) -> dict[str, Any]:
        """The fitted fields, as `AnswerModel` names them (for `dataclasses.replace`)."""
        return {
            "rrf_k": self.rrf_k,
            "dense_weight": self.dense_weight,
            "lexical_weight": self.lexical_weight,
            "fusion": self.fusion,
        }


@dataclass
class Hit:
    """A retrieved chunk with its similarity to the question and its fused rank score."""

    chunk: ChunkRecord
    similarity: float
    fused: float


class Retriever:
    """Find the chunks that answer a question."""

    def __init__(self, store: IndexStore, encoder: Encoder, config: RetrievalConfig) -> None:
        self.store = store
        self.encoder = encoder
        self.config = config

    def embed_query(self, question: ParsedQuestion) -> np.ndarray:
        """The question vector (of what is searched: corrected, authorship topic), as at ingestion."""
        return self.encoder.embed([question.searched])[0]

    def search(
        self,
        snapshot: Snapshot,
        question: ParsedQuestion,
        query_vector: np.ndarray,
        top_k: int,
        sources: Sequence[str] | None = None,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        """Top chunks for the question, near-duplicates collapsed."""
        cfg = self.config
        fetch = max(cfg.fetch, top_k * 4)
        dense = self._dense(snapshot, query_vector, fetch, sources) if mode in ("hybrid", "dense") else []
        lexical: list[tuple[str, float]] = []
        if mode in ("hybrid", "lexical"):
            query = [t for t in terms(question.searched) if snapshot.knows_term(t)]
            lexical = snapshot.lexical.search(query, fetch, sources)
        scores = fuse(dense, lexical, cfg)
        ordered = sorted(scores.items(), key=lambda kv: -kv[1])
        hits: list[Hit] = []
        kept_shingles: list[frozenset[str]] = []
        # Chunks are read from the store a few at a time: most questions need only the first top_k.
        batch = top_k + 4
        for first in range(0, len(ordered), batch):
            part = ordered[first : first + batch]
            for chunk, (_, fused) in zip(snapshot.chunks([cid for cid, _ in part]), part, strict=True):
                shingles: frozenset[str] = snapshot.memo(
                    "shingles", chunk.chunk_id, partial(_shingles, chunk.text)
                )
                if any(_overlaps(chunk, h.chunk) for h in hits) or any(
                    _jaccard(shingles, s) >= cfg.duplicate_jaccard for s in kept_shingles
                ):
                    continue
                hits.append(Hit(chunk=chunk, similarity=float(chunk.vector @ query_vector), fused=fused))
                kept_shingles.append(shingles)
                if len(hits) >= top_k:
                    break
            if len(hits) >= top_k:
                break
        if hits and question.authorship:
            return _with_byline(snapshot, hits, query_vector, top_k)
        return hits

    def _dense(
        self, snapshot: Snapshot, vector: np.ndarray, n: int, sources: Sequence[str] | None
    ) -> list[tuple[str, float]]:
        if snapshot.vectors is not None:  # a small index: exact, and exactly this version's chunks
            return snapshot.vectors.search(vector, n, sources)
        found = self.store.dense_query(vector, n, sources)
        # Chunks this version does not have belong to an ingest in flight (or one it replaced): ignore.
        live = snapshot.lexical.live_among([cid for cid, _ in found])
        return [(cid, sim) for cid, sim in found if cid in live]


def fuse(
    dense: list[tuple[str, float]], lexical: list[tuple[str, float]], cfg: RetrievalConfig
) -> dict[str, float]:
    """One score per chunk from the dense (cosine) and lexical (BM25) lists, each best first.

    `rrf`: weighted reciprocal rank, which only sees ranks. `convex`: a weighted sum of the scores, each
    list min-max normalised (BM25's floor is 0; the dense floor is the list's last similarity), so a chunk
    that one side finds far better than anything else keeps that margin (Bruch et al., "An Analysis of
    Fusion Functions for Hybrid Retrieval", 2023). A chunk missing from a list gets 0 from it."""
    scores: dict[str, float] = {}
    if cfg.fusion == "convex":
        sides = (
            (cfg.dense_weight, dense, dense[-1][1] if dense else 0.0),
            (cfg.lexical_weight, lexical, 0.0),
        )
        for weight, found, floor in sides:
            span = found[0][1] - floor if found else 0.0
            for chunk_id, score in found:
                share = (score - floor) / span if span > 0 else 1.0
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * share
        return scores
    for weight, found in ((cfg.dense_weight, dense), (cfg.lexical_weight, lexical)):
        for rank, (chunk_id, _) in enumerate(found):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (cfg.rrf_k + rank + 1)
    return scores


def _with_byline(snapshot: Snapshot, hits: list[Hit], query_vector: np.ndarray, top_k: int) -> list[Hit]:
    """The top article's byline passage among the hits: in the last place when it was not retrieved, so
    there are still at most `top_k`."""
    found = byline_span(snapshot, hits[0].chunk)
    if found is None:
        return hits
    chunk = snapshot.chunk(found[0])
    if any(h.chunk.chunk_id == chunk.chunk_id for h in hits):
        return hits
    byline = Hit(chunk=chunk, similarity=float(chunk.vector @ query_vector), fused=0.0)
    return [*hits[: top_k - 1], byline]


def _overlaps(a: ChunkRecord, b: ChunkRecord) -> bool:
    """Same source and more than half of the shorter span shared (neighbours share only their overlap)."""
    if a.source != b.source:
        return False
    shared = min(a.end, b.end) - max(a.start, b.start)
    return shared > 0.5 * min(a.end - a.start, b.end - b.start)


def _shingles(text: str, size: int = 5) -> frozenset[str]:
    words = text.lower().split()
    return frozenset(" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1)))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
