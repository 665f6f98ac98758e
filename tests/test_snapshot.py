"""Snapshots: one immutable index version; a refresh swaps versions whole, never half."""

from __future__ import annotations

import numpy as np

from verbatim.ingest.index.records import ChunkRecord, DocumentRecord
from verbatim.ingest.index.store import IndexUnavailable
from verbatim.service.qa.snapshot import Snapshot, SnapshotHolder


def _chunk(cid: str, text: str) -> ChunkRecord:
    v = np.ones(4, dtype=np.float32) / 2
    return ChunkRecord(
        cid, "a.txt", "x", "Title", None, None, 0, len(text), text, v, [(0, len(text))], v[None, :]
    )


class FakeStore:
    def __init__(self) -> None:
        self.v = 1
        self.chunks = [_chunk("c1", "Wheat reached Armenia.")]
        self.down = False
        self.loads = 0

    def version(self) -> int:
        if self.down:
            raise IndexUnavailable("down")
        return self.v

    def manifest(self) -> dict[str, DocumentRecord]:
        return {"a.txt": DocumentRecord("a.txt", "x", "p", len(self.chunks), 10, [], {})}

    def load_chunks(self, live: dict[str, DocumentRecord]) -> list[ChunkRecord]:
        self.loads += 1
        return list(self.chunks)


def test_a_snapshot_indexes_its_chunks() -> None:
    snap = Snapshot(version=3, documents={}, chunks=[_chunk("c1", "Wheat reached Armenia by rail.")])
    assert snap.by_id == {"c1": 0} and snap.chunk_count == 1
    assert snap.term_weight("wheat") < snap.term_weight("never-seen")  # unknown terms weigh the most
    assert "armenia" in snap.vocabulary and snap.vocabulary is snap.vocabulary  # built once
    assert snap.memo("shingles", 0, lambda: [1]) is snap.memo("shingles", 0, lambda: [2])


def test_refresh_loads_only_when_the_version_moves_and_keeps_serving_when_the_store_is_down() -> None:
    store = FakeStore()
    holder = SnapshotHolder(store)  # type: ignore[arg-type]
    first = holder.refresh()
    assert first is not None and first.version == 1 and store.loads == 1
    assert holder.refresh() is first and store.loads == 1  # same version: nothing reloaded
    store.v, store.chunks = 2, [_chunk("c1", "Wheat reached Armenia."), _chunk("c2", "Fuel followed.")]
    second = holder.refresh()
    assert second is not None and second is not first and second.chunk_count == 2
    assert first.chunk_count == 1  # a request holding the old snapshot still sees the old version whole
    store.down = True
    assert holder.refresh() is second and holder.last_error == "down"
