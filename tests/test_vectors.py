"""Exact dense search over a small index's vectors: the same answers as a brute-force scan."""

from __future__ import annotations

import numpy as np
import pytest

from verbatim.ingest.index.records import ChunkRecord
from verbatim.service.qa.vectors import ExactVectors


def _record(cid: str, source: str, vector: np.ndarray) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=cid, source=source, sha256="x", title="t", author=None, date=None, start=0, end=1,
        text="x", vector=vector, sentences=[(0, 1)], sentence_vectors=vector[None, :],
    )  # fmt: skip


def _records(n: int, seed: int = 0) -> list[ChunkRecord]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [_record(f"c{i:03d}", f"s{i % 7}.txt", vectors[i]) for i in range(n)]


def _brute(records: list[ChunkRecord], query: np.ndarray, n: int) -> list[str]:
    return [r.chunk_id for r in sorted(records, key=lambda r: (-float(r.vector @ query), r.chunk_id))][:n]


def test_search_equals_a_brute_force_scan_with_ties_broken_by_id() -> None:
    records = _records(200)
    index = ExactVectors.of(records)
    for query in (records[5].vector, np.eye(16, dtype=np.float32)[3]):
        got = index.search(query, 30)
        assert [cid for cid, _ in got] == _brute(records, query, 30)
        assert [s for _, s in got] == pytest.approx([float(index.matrix[int(c[1:])] @ query) for c, _ in got])
    twins = ExactVectors.of([_record(c, "a.txt", records[0].vector) for c in ("b", "a", "c")])
    assert [cid for cid, _ in twins.search(records[0].vector, 2)] == ["a", "b"]
    assert ExactVectors.of([]).search(records[0].vector, 5) == []


def test_a_source_filter_keeps_only_those_sources() -> None:
    records = _records(100)
    index = ExactVectors.of(records)
    got = index.search(records[0].vector, 50, ["s1.txt", "s3.txt"])
    wanted = [r for r in records if r.source in ("s1.txt", "s3.txt")]
    assert [cid for cid, _ in got] == _brute(wanted, records[0].vector, 50)


def test_replaced_equals_a_fresh_build_of_the_next_version() -> None:
    records = _records(60)
    added = [_record(f"n{i}", "s2.txt", r.vector) for i, r in enumerate(_records(4, seed=1))]
    after = [r for r in records if r.source not in ("s2.txt", "s5.txt")] + added
    index = ExactVectors.of(records).replaced(["s2.txt", "s5.txt"], added)
    assert sorted(index.chunk_ids()) == sorted(r.chunk_id for r in after)
    for query in (added[0].vector, records[1].vector):
        assert [cid for cid, _ in index.search(query, 20)] == _brute(after, query, 20)
    assert len(ExactVectors.of([]).replaced([], added)) == 4
    assert index.search(added[0].vector, 5, ["unknown.txt"]) == []  # a source it never had
    assert set(index.replaced(["s2.txt"], []).chunk_ids()) == {
        r.chunk_id for r in after if r.source != "s2.txt"
    }
    assert len(index.replaced(["s0.txt"], [])) == len(index) - sum(r.source == "s0.txt" for r in after)
