"""Exact dense search for an index small enough to hold its chunk vectors in memory.

Chroma's HNSW search is approximate. On the 11,927-chunk benchmark index (real text and embeddings)
it left the nearest chunk out of its top 30 for 4.5 % of 400 eval questions (recall@30 0.955), and on
a fresh 118-chunk index it missed a just-uploaded chunk whose cosine to the question was 0.81 (the
next best 0.22) in 1 of 53 runs here and once in CI. An index whose chunks fit the chunk cache (the
same bound: it is read whole at start anyway) is therefore searched exactly: one matrix product,
2.2 ms at 11,927 chunks against 2.2 ms for the Chroma query. Larger indexes use Chroma (`docs/scaling.md`).
Like snapshots, a value here never changes: `replaced` returns the next version's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from verbatim.ingest.index.records import ChunkRecord


@dataclass(frozen=True)
class ExactVectors:
    """Every live chunk's vector, one row each (unit length, so a dot product is the cosine): about
    1.5 KB a chunk for 384 dimensions, plus 16 bytes of id and 4 of source code."""

    ids: np.ndarray  # chunk ids, S16 (ASCII, at most 16 characters: records.chunk_id_for)
    sources: np.ndarray  # each row's source, as an int32 code of `codes`
    codes: Mapping[str, int]  # source name → code (append-only across versions)
    matrix: np.ndarray  # float32, (chunks, dimensions)

    @classmethod
    def of(cls, records: Iterable[ChunkRecord], codes: Mapping[str, int] | None = None) -> ExactVectors:
        rows = list(records)
        known = dict(codes or {})
        for r in rows:
            known.setdefault(r.source, len(known))
        dims = len(rows[0].vector) if rows else 0
        return cls(
            ids=np.array([r.chunk_id.encode("ascii") for r in rows], dtype="S16"),
            sources=np.array([known[r.source] for r in rows], dtype=np.int32),
            codes=known,
            matrix=np.stack([r.vector for r in rows]).astype(np.float32, copy=False)
            if rows
            else np.zeros((0, dims), dtype=np.float32),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def chunk_ids(self) -> list[str]:
        return [bytes(i).decode("ascii") for i in self.ids]

    def _rows_of(self, sources: Iterable[str]) -> np.ndarray:
        wanted = [self.codes[s] for s in set(sources) if s in self.codes]
        return np.isin(self.sources, np.array(wanted, dtype=np.int32))

    def replaced(self, removed: Iterable[str], added: Sequence[ChunkRecord]) -> ExactVectors:
        """The next version: the chunks of `removed` sources gone, `added` chunks in."""
        keep = ~self._rows_of(removed)
        fresh = ExactVectors.of(added, self.codes)
        if not len(self):
            return fresh
        matrix = np.concatenate([self.matrix[keep], fresh.matrix]) if len(fresh) else self.matrix[keep]
        return ExactVectors(
            ids=np.concatenate([self.ids[keep], fresh.ids]),
            sources=np.concatenate([self.sources[keep], fresh.sources]),
            codes=fresh.codes,
            matrix=matrix,
        )

    def search(
        self, vector: np.ndarray, n: int, sources: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine) of the `n` nearest chunks, best first, ties by chunk id."""
        if not len(self) or n <= 0:
            return []
        sims = self.matrix @ vector.astype(np.float32, copy=False)
        rows = np.flatnonzero(self._rows_of(sources)) if sources else np.arange(len(self))
        if len(rows) > n:  # keep every row tied with the n-th: the tie-break is by id, below
            cut = np.partition(sims[rows], len(rows) - n)[len(rows) - n]
            rows = rows[sims[rows] >= cut]
        best = sorted((-float(sims[r]), bytes(self.ids[r])) for r in rows)[:n]
        return [(cid.decode("ascii"), -neg) for neg, cid in best]
