"""Hybrid retrieval on its own: rank and score fusion, source filters, near-duplicate collapse."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from verbatim.ingest.index.records import ChunkRecord
from verbatim.service.qa.question import parse
from verbatim.service.qa.retrieval import RetrievalConfig, Retriever, fuse
from verbatim.service.qa.snapshot import Snapshot

TEXTS = {
    "a": "Wheat from Kazakhstan reached Armenia by rail through Georgia in November.",
    "b": "The ferry carried trucks across the Caspian Sea to the port of Aktau.",
    "c": "Armenia and Azerbaijan agreed a transit route for grain and fuel.",
    "d": "Wheat from Kazakhstan reached Armenia by rail through Georgia in November!",  # near-duplicate of a
}


def _record(cid: str, source: str, vector: np.ndarray) -> ChunkRecord:
    text = TEXTS[cid]
    return ChunkRecord(
        chunk_id=cid, source=source, sha256="x", title="t", author=None, date=None, start=0, end=len(text),
        text=text, vector=vector, sentences=[(0, len(text))], sentence_vectors=vector[None, :],
    )  # fmt: skip


class FakeStore:
    """Dense search as Chroma would answer it: the ids in the order given, cosine = dot product."""

    def __init__(self, chunks: list[ChunkRecord]) -> None:
        self.chunks = chunks

    def dense_query(
        self, vector: np.ndarray, n: int, sources: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        found = [
            (c.chunk_id, float(c.vector @ vector)) for c in self.chunks if not sources or c.source in sources
        ]
        return sorted(found, key=lambda kv: -kv[1])[:n]


def _setup() -> tuple[Retriever, Snapshot, np.ndarray]:
    eye = np.eye(4, dtype=np.float32)
    chunks = [
        _record("a", "one.txt", eye[0]),
        _record("b", "two.txt", eye[1]),
        _record("c", "two.txt", eye[2]),
    ]
    chunks.append(_record("d", "three.txt", eye[0]))
    config = RetrievalConfig(rrf_k=10, dense_weight=0.5, lexical_weight=1.0)
    retriever = Retriever(FakeStore(chunks), encoder=None, config=config)  # type: ignore[arg-type]
    return retriever, Snapshot.of_chunks(1, {}, chunks), eye


def test_fusion_ranks_what_both_retrievers_agree_on_first() -> None:
    retriever, snap, eye = _setup()
    # Dense prefers b (the vector), BM25 prefers a ("wheat Kazakhstan"): with lexical weight 1 and dense 0.5
    # the lexical favourite leads, and the dense one is still retrieved.
    hits = retriever.search(snap, parse("wheat Kazakhstan rail"), eye[1], top_k=3)
    ids = [h.chunk.chunk_id for h in hits]
    assert ids[0] == "a" and "b" in ids
    assert hits[0].similarity == 0.0 and hits[0].fused > hits[-1].fused


def test_near_duplicates_are_collapsed_and_sources_filter() -> None:
    retriever, snap, eye = _setup()
    ids = [h.chunk.chunk_id for h in retriever.search(snap, parse("wheat Kazakhstan rail"), eye[0], top_k=4)]
    assert ids.count("a") + ids.count("d") == 1  # same text twice: one kept
    only = retriever.search(snap, parse("wheat Kazakhstan grain"), eye[0], top_k=4, sources=["two.txt"])
    assert {h.chunk.source for h in only} == {"two.txt"}


def test_modes_use_one_side_only() -> None:
    retriever, snap, eye = _setup()
    dense = retriever.search(snap, parse("wheat Kazakhstan"), eye[1], top_k=1, mode="dense")
    lexical = retriever.search(snap, parse("wheat Kazakhstan"), eye[1], top_k=1, mode="lexical")
    assert dense[0].chunk.chunk_id == "b" and lexical[0].chunk.chunk_id in {"a", "d"}


def test_convex_fusion_keeps_a_margin_that_ranks_alone_lose() -> None:
    # BM25 finds x far better than anything else, and dense ranks it just below y and z, which dense and
    # BM25 both find middling. Reciprocal rank sees only ranks, so the two middling chunks win; a convex
    # sum of normalised scores keeps x's lexical margin.
    dense = [("y", 0.62), ("z", 0.61), ("x", 0.60), ("w", 0.40)]
    lexical = [("x", 12.0), ("y", 3.0), ("z", 2.9), ("w", 0.5)]
    rrf = fuse(dense, lexical, RetrievalConfig(10.0, 1.0, 1.0))
    assert max(rrf, key=rrf.__getitem__) == "y"
    convex = fuse(dense, lexical, RetrievalConfig(0.0, 0.5, 0.5, "convex"))
    assert max(convex, key=convex.__getitem__) == "x"
    # Each side is normalised to [0, 1] (BM25 from 0, dense from its list's last similarity), weighted.
    assert convex["x"] == pytest.approx(0.5 * (0.20 / 0.22) + 0.5 * 1.0)
    assert convex["w"] == pytest.approx(0.5 * 0.0 + 0.5 * (0.5 / 12.0))
    # A list of one, or one side empty, still scores its chunks.
    assert fuse([("a", 0.3)], [], RetrievalConfig(0.0, 0.6, 0.4, "convex")) == {"a": 0.6}


def test_the_answer_model_names_its_fusion(tmp_path: Path) -> None:
    from verbatim.service.qa.answer_model import MODEL_FILE, AnswerModel, AnswerModelError

    data = json.loads(MODEL_FILE.read_text())
    assert AnswerModel.load().fusion == data.get("fusion", "rrf")
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**data, "fusion": "max"}))
    with pytest.raises(AnswerModelError, match="fusion must be"):
        AnswerModel.load(path)
    del data["fusion"]  # a model fitted before fusion was a choice: reciprocal rank
    path.write_text(json.dumps(data))
    assert AnswerModel.load(path).fusion == "rrf"


class ApproximateStore(FakeStore):
    """Dense search as an approximate (HNSW) index sometimes answers it: the nearest chunk missed."""

    def dense_query(
        self, vector: np.ndarray, n: int, sources: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        return super().dense_query(vector, n + 1, sources)[1:]


def test_a_small_index_is_searched_exactly_and_a_large_one_by_the_store() -> None:
    retriever, snap, eye = _setup()
    retriever.store = ApproximateStore(retriever.store.chunks)  # type: ignore[attr-defined]
    query = parse("ferry Caspian")
    assert snap.vectors is not None  # held in memory: the store's approximate answer is never asked
    assert retriever.search(snap, query, eye[1], top_k=1, mode="dense")[0].chunk.chunk_id == "b"
    large = dataclasses.replace(snap, vectors=None)  # an index past the chunk cache: the store answers
    assert retriever.search(large, query, eye[1], top_k=1, mode="dense")[0].chunk.chunk_id != "b"
