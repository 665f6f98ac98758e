"""Exact dense search for an index small enough to hold its chunk vectors in memory.

Chroma's HNSW search is approximate. On the 11,927-chunk benchmark index (real text and embeddings)
it left the nearest chunk out of its top 30 for 4.5 % of 400 eval questions (recall@30 0.955), and on
a fresh 118-chunk index it missed, about one run in thirty, a just-uploaded chunk whose cosine to the
question was 0.81 (the next best 0.22). An index whose chunks fit the chunk cache (the same bound: it
is read whole at start anyway) is therefore searched exactly: one matrix product, 2.2 ms at 11,927
chunks against 2.2 ms for the Chroma query. Larger indexes use Chroma (`docs/scaling.md`).
Like snapshots, a value here never changes: `replaced` returns the next version's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from verbatim.ingest.index.records import ChunkRecord


@dataclass(frozen=True)
class ExactVectors:
    """Every live chunk's vector, one row each (unit length, so a dot product is the cosine)."""

    ids: np.ndarray  # chunk ids (str)
    sources: np.ndarray  # each row's source (str)
    matrix: np.ndarray  # float32, (chunks, dimensions)

    @classmethod
    def of(cls, records: Iterable[ChunkRecord]) -> ExactVectors:
        rows = list(records)
        if not rows:
            return cls(np.array([], dtype=str), np.array([], dtype=str), np.zeros((0, 0), dtype=np.float32))
        return cls(
            ids=np.array([r.chunk_id for r in rows]),
            sources=np.array([r.source for r in rows]),
            matrix=np.stack([r.vector for r in rows]).astype(np.float32, copy=False),
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes + self.ids.nbytes + self.sources.nbytes)

    def replaced(self, removed: Iterable[str], added: Sequence[ChunkRecord]) -> ExactVectors:
        """The next version: the chunks of `removed` sources gone, `added` chunks in."""
        gone = list(set(removed))
        keep = ~np.isin(self.sources, gone) if gone and len(self) else np.ones(len(self), dtype=bool)
        fresh = ExactVectors.of(added)
        if not len(fresh):
            return ExactVectors(self.ids[keep], self.sources[keep], self.matrix[keep])
        if not len(self):
            return fresh
        return ExactVectors(
            ids=np.concatenate([self.ids[keep], fresh.ids]),
            sources=np.concatenate([self.sources[keep], fresh.sources]),
            matrix=np.concatenate([self.matrix[keep], fresh.matrix]),
        )

    def search(
        self, vector: np.ndarray, n: int, sources: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine) of the `n` nearest chunks, best first, ties by chunk id."""
        if not len(self) or n <= 0:
            return []
        sims = self.matrix @ vector.astype(np.float32, copy=False)
        rows = np.flatnonzero(np.isin(self.sources, list(sources))) if sources else np.arange(len(self))
        if len(rows) > n:  # keep every row tied with the n-th: the tie-break is by id, below
            cut = np.partition(sims[rows], len(rows) - n)[len(rows) - n]
            rows = rows[sims[rows] >= cut]
        best = sorted((-float(sims[r]), str(self.ids[r])) for r in rows)[:n]
        return [(cid, -neg) for neg, cid in best]
