"""BM25 over immutable segments, so an index change costs the changed documents, not the corpus.

A segment holds the postings of a batch of whole documents: for each term (sorted, packed UTF-8), the
chunks that use it and how often, as compressed-sparse-row arrays. Changing a document adds a segment
with its new chunks and marks its old chunks dead in the segment that holds them (a copy of that
segment's live mask: one byte per chunk); nothing else is copied, so the index a request holds never
changes under it. Collection statistics (live chunk count, average length, document frequency) are
computed over live chunks at query time, so scores equal those of an index rebuilt from scratch: Lucene's
BM25 (k1 1.5, b 0.75), as bm25s computes it, each occurrence of a query term adding its score.

Memory per chunk: its id (16 bytes), source code, length, sort position, live flag and postings (6 bytes
per distinct term); no text.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

K1 = 1.5
B = 0.75
SEGMENT_CHUNKS = 100_000  # a full build is cut into segments of this many chunks (bounded build memory)
SMALL_SEGMENT = 10_000  # segments smaller than this (one per update) are merged once there are
MAX_SMALL = 8  # more than this many
MEMO_TERMS, MEMO_POSTINGS = 50_000, 20_000  # postings remembered per version: terms, and their size


@dataclass(frozen=True)
class IndexedChunk:
    """What the lexical index needs of a chunk: its id, source and terms."""

    chunk_id: str
    source: str
    terms: list[str]


class PackedTerms(Sequence[bytes]):
    """Sorted terms as one UTF-8 buffer and offsets (no Python object per term); found by bisection.
    UTF-8 byte order is code-point order, so the bytes sort as the strings do."""

    def __init__(self, blob: bytes, offsets: np.ndarray) -> None:
        self.blob = blob
        self.offsets = offsets

    @classmethod
    def of(cls, sorted_terms: Sequence[bytes]) -> PackedTerms:
        offsets = np.zeros(len(sorted_terms) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in sorted_terms], out=offsets[1:])
        return cls(b"".join(sorted_terms), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: Any) -> Any:  # Sequence protocol: bisect only asks for single items
        return self.blob[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def find(self, term: bytes) -> int:
        """The position of `term`, or -1."""
        i = bisect.bisect_left(self, term)
        return i if i < len(self) and self[i] == term else -1


@dataclass(frozen=True)
class Segment:
    """The postings of a batch of whole documents, immutable once built."""

    ids: np.ndarray  # S16 chunk ids, documents contiguous, in the order given
    id_order: np.ndarray  # int32 permutation sorting `ids` (lookup by id)
    sources: np.ndarray  # int32 source code per chunk
    lengths: np.ndarray  # int32 terms per chunk
    terms: PackedTerms
    starts: np.ndarray  # int64 CSR offsets: postings of term t are [starts[t], starts[t + 1])
    docs: np.ndarray  # int32 chunk position within the segment
    tfs: np.ndarray  # uint16 occurrences of the term in the chunk
    spans: Mapping[str, tuple[int, int]]  # source → its chunks' positions [lo, hi)

    def __len__(self) -> int:
        return len(self.ids)

    def postings(self, term: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        t = self.terms.find(term)
        if t < 0:
            return None
        lo, hi = int(self.starts[t]), int(self.starts[t + 1])
        return self.docs[lo:hi], self.tfs[lo:hi]

    def position(self, chunk_id: bytes) -> int:
        """Where the chunk with this id sits in the segment, or -1."""
        i = int(np.searchsorted(self.ids, chunk_id, sorter=self.id_order))
        if i < len(self.ids) and self.ids[self.id_order[i]] == chunk_id:
            return int(self.id_order[i])
        return -1

    @property
    def nbytes(self) -> int:
        arrays = (self.ids, self.id_order, self.sources, self.lengths, self.starts, self.docs, self.tfs)
        return sum(a.nbytes for a in arrays) + len(self.terms.blob) + self.terms.offsets.nbytes

    # -- building, saving -------------------------------------------------------------------------
    @classmethod
    def build(cls, chunks: Iterable[IndexedChunk], codes: SourceCodes) -> Segment:
        """Postings of `chunks` (each document's chunks together)."""
        builder = SegmentBuilder(codes)
        for chunk in chunks:
            builder.add(chunk)
        return builder.build()

    @classmethod
    def merge(cls, parts: Sequence[tuple[Segment, np.ndarray]]) -> Segment:
        """One segment holding the live chunks of `parts` (segment, live mask), in order: postings are
        remapped and concatenated, dead chunks and terms no live chunk uses dropped."""
        local_terms = [[seg.terms[i] for i in range(len(seg.terms))] for seg, _ in parts]
        union = sorted(set().union(*local_terms))
        where = {t: i for i, t in enumerate(union)}
        cols: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        ids, sources, lengths = [], [], []
        spans: dict[str, tuple[int, int]] = {}
        base = 0
        for (seg, live), terms in zip(parts, local_terms, strict=True):
            position = np.cumsum(live) - 1  # new position of each kept chunk
            term_of = np.repeat(np.array([where[t] for t in terms], dtype=np.int64), np.diff(seg.starts))
            kept = live[seg.docs]
            cols.append((term_of[kept], position[seg.docs[kept]] + base, seg.tfs[kept]))
            ids.append(seg.ids[live])
            sources.append(seg.sources[live])
            lengths.append(seg.lengths[live])
            for source, (lo, hi) in seg.spans.items():
                if live[lo:hi].all():  # a document's chunks live and die together
                    spans[source] = (int(position[lo]) + base, int(position[hi - 1]) + base + 1)
            base += int(live.sum())
        term_col = np.concatenate([c[0] for c in cols]) if cols else np.zeros(0, dtype=np.int64)
        doc_col = np.concatenate([c[1] for c in cols]) if cols else np.zeros(0, dtype=np.int64)
        tf_col = np.concatenate([c[2] for c in cols]) if cols else np.zeros(0, dtype=np.uint16)
        used = np.unique(term_col)  # terms only dead chunks used go
        renumber = np.full(len(union), -1, dtype=np.int64)
        renumber[used] = np.arange(len(used))
        term_col = renumber[term_col]
        order = np.lexsort((doc_col, term_col))
        starts = np.zeros(len(used) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_col, minlength=len(used)), out=starts[1:])
        all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype="S16")
        return cls(
            ids=all_ids,
            id_order=np.argsort(all_ids, kind="stable").astype(np.int32),
            sources=np.concatenate(sources).astype(np.int32),
            lengths=np.concatenate(lengths).astype(np.int32),
            terms=PackedTerms.of([union[i] for i in used]),
            starts=starts,
            docs=doc_col[order].astype(np.int32),
            tfs=tf_col[order].astype(np.uint16),
            spans=spans,
        )

    def save(self, path: Path, codes: SourceCodes) -> None:
        """Write the segment as one .npz (sources by name, so codes need not persist)."""
        names = sorted(self.spans, key=lambda s: self.spans[s][0])
        np.savez(
            path,
            ids=self.ids,
            id_order=self.id_order,
            lengths=self.lengths,
            blob=np.frombuffer(self.terms.blob, dtype=np.uint8),
            offsets=self.terms.offsets,
            starts=self.starts,
            docs=self.docs,
            tfs=self.tfs,
            span_names=np.array([n.encode("utf-8") for n in names], dtype=object),
            span_bounds=np.array([self.spans[n] for n in names], dtype=np.int64).reshape(-1, 2),
        )

    @classmethod
    def load(cls, path: Path, codes: SourceCodes) -> Segment:
        with np.load(path, allow_pickle=True) as data:
            names = [bytes(n).decode("utf-8") for n in data["span_names"]]
            bounds = data["span_bounds"]
            spans = {n: (int(lo), int(hi)) for n, (lo, hi) in zip(names, bounds, strict=True)}
            sources = np.empty(len(data["ids"]), dtype=np.int32)
            for name, (lo, hi) in spans.items():
                sources[lo:hi] = codes.code(name)
            return cls(
                ids=data["ids"],
                id_order=data["id_order"],
                sources=sources,
                lengths=data["lengths"],
                terms=PackedTerms(data["blob"].tobytes(), data["offsets"]),
                starts=data["starts"],
                docs=data["docs"],
                tfs=data["tfs"],
                spans=spans,
            )


class SegmentBuilder:
    """Collects chunks into a segment, keeping only term ids while it goes (not the chunks' term lists):
    a full build's memory is bounded by one segment's postings. A chunk without terms counts as one
    placeholder term (so lengths stay positive, as in bm25s)."""

    def __init__(self, codes: SourceCodes) -> None:
        self.codes = codes
        self.vocab: dict[str, int] = {}
        self.flat = array("q")
        self.lengths = array("q")
        self.ids: list[bytes] = []
        self.sources: list[str] = []

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, chunk: IndexedChunk) -> None:
        chunk_id = chunk.chunk_id.encode("ascii")
        if len(chunk_id) > 16:
            raise ValueError("chunk ids are at most 16 ASCII characters (records.chunk_id_for)")
        toks = chunk.terms or ["\x00"]
        vocab = self.vocab
        self.flat.extend([vocab.setdefault(t, len(vocab)) for t in toks])
        self.lengths.append(len(toks))
        self.ids.append(chunk_id)
        self.sources.append(chunk.source)

    def build(self) -> Segment:
        n = max(len(self.ids), 1)
        lengths = np.frombuffer(self.lengths, dtype=np.int64).astype(np.int32)
        term_ids = np.frombuffer(self.flat, dtype=np.int64)
        doc_ids = np.repeat(np.arange(len(self.ids), dtype=np.int64), lengths)
        # Renumber terms in byte order, then count each (term, chunk) pair once: sorted by term, chunk.
        encoded = [t.encode("utf-8") for t in self.vocab]
        by_bytes = sorted(range(len(encoded)), key=encoded.__getitem__)
        rank = np.empty(len(encoded), dtype=np.int64)
        rank[by_bytes] = np.arange(len(encoded))
        pairs, counts = np.unique(rank[term_ids] * n + doc_ids, return_counts=True)
        starts = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs // n, minlength=len(encoded)), out=starts[1:])
        ids = np.array(self.ids, dtype="S16")
        spans: dict[str, tuple[int, int]] = {}
        for i, source in enumerate(self.sources):
            lo, _ = spans.get(source, (i, i))
            spans[source] = (lo, i + 1)
        return Segment(
            ids=ids,
            id_order=np.argsort(ids, kind="stable").astype(np.int32),
            sources=np.array([self.codes.code(s) for s in self.sources], dtype=np.int32),
            lengths=lengths,
            terms=PackedTerms.of([encoded[i] for i in by_bytes]),
            starts=starts,
            docs=(pairs % n).astype(np.int32),
            tfs=np.minimum(counts, np.iinfo(np.uint16).max).astype(np.uint16),
            spans=spans,
        )


class SourceCodes:
    """Source name → small integer, shared by every version of an index. Append-only, so a version
    built earlier never sees a code change under it."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def code(self, source: str) -> int:
        return self._codes.setdefault(source, len(self._codes))

    def known(self, sources: Iterable[str]) -> list[int]:
        return [self._codes[s] for s in sources if s in self._codes]


@dataclass(frozen=True)
class LexicalIndex:
    """One version of the lexical index: segments, which of their chunks are live, where each
    document's live chunks are. `apply` returns the next version; this one never changes."""

    segments: tuple[Segment, ...] = ()
    live: tuple[np.ndarray, ...] = ()
    located: Mapping[str, int] = field(default_factory=dict)  # source → segment holding its chunks
    codes: SourceCodes = field(default_factory=SourceCodes)
    live_chunks: int = 0
    live_length: int = 0  # terms in live chunks (an integer: exact whatever the order of updates)
    _terms: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, chunks: Iterable[IndexedChunk], segment_chunks: int = SEGMENT_CHUNKS) -> LexicalIndex:
        """A full build, cut into segments of at most about `segment_chunks` (documents never split)."""
        index = cls()
        builder = SegmentBuilder(index.codes)
        for chunk in chunks:
            if len(builder) >= segment_chunks and chunk.source != builder.sources[-1]:
                index = index.with_segment((), builder.build())
                builder = SegmentBuilder(index.codes)
            builder.add(chunk)
        return index.with_segment((), builder.build()) if len(builder) else index

    def apply(self, removed: Iterable[str], added: Sequence[IndexedChunk] = ()) -> LexicalIndex:
        """The next version: the chunks of `removed` sources dead, `added` chunks (whole documents, which
        may replace documents of the same source) in a new segment. Costs the change, not the corpus."""
        segment = Segment.build(added, self.codes) if added else None
        return self.with_segment(removed, segment)

    def with_segment(self, removed: Iterable[str], segment: Segment | None) -> LexicalIndex:
        gone = set(removed) | (set(segment.spans) if segment is not None else set())
        live = list(self.live)
        located = dict(self.located)
        copied: set[int] = set()
        live_chunks, live_length = self.live_chunks, self.live_length
        for source in gone:
            at = located.pop(source, None)
            if at is None:
                continue
            if at not in copied:
                live[at] = live[at].copy()
                copied.add(at)
            lo, hi = self.segments[at].spans[source]
            mask = live[at][lo:hi]
            live_chunks -= int(mask.sum())
            live_length -= int(self.segments[at].lengths[lo:hi][mask].sum(dtype=np.int64))
            live[at][lo:hi] = False
        segments = list(self.segments)
        if segment is not None and len(segment):
            segments.append(segment)
            live.append(np.ones(len(segment), dtype=bool))
            for source in segment.spans:
                located[source] = len(segments) - 1
            live_chunks += len(segment)
            live_length += int(segment.lengths.sum(dtype=np.int64))
        return LexicalIndex(
            segments=tuple(segments),
            live=tuple(live),
            located=located,
            codes=self.codes,
            live_chunks=live_chunks,
            live_length=live_length,
        )

    def compacted(self) -> LexicalIndex:
        """The same index in fewer, cleaner segments: a segment more than half dead is rewritten without
        its dead chunks, and once there are more than MAX_SMALL small segments (one per update) they
        are merged into one. Pure array work on the segments involved; no text is read again."""
        groups: list[list[int]] = [
            [s]
            for s, segment in enumerate(self.segments)
            if len(segment) >= SMALL_SEGMENT and self.live[s].mean() < 0.5
        ]
        small = [s for s, segment in enumerate(self.segments) if len(segment) < SMALL_SEGMENT]
        if len(small) > MAX_SMALL:
            groups.append(small)
        if not groups:
            return self
        merged = {g[0]: Segment.merge([(self.segments[s], self.live[s]) for s in g]) for g in groups}
        gone = {s for g in groups for s in g[1:]}
        segments: list[Segment] = []
        for s, segment in enumerate(self.segments):
            if s not in gone:
                segments.append(merged.get(s, segment))
        live = [
            np.ones(len(seg), dtype=bool) if s in merged else self.live[s]
            for s, seg in zip((s for s in range(len(self.segments)) if s not in gone), segments, strict=True)
        ]
        keep = [i for i, seg in enumerate(segments) if len(seg)]  # a wholly dead segment goes
        segments, live = [segments[i] for i in keep], [live[i] for i in keep]
        located = {source: at for at, seg in enumerate(segments) for source in _live_sources(seg, live[at])}
        return LexicalIndex(
            segments=tuple(segments),
            live=tuple(live),
            located=located,
            codes=self.codes,
            live_chunks=self.live_chunks,
            live_length=self.live_length,
        )

    # -- reading ------------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.segments) + sum(m.nbytes for m in self.live)

    def _postings(self, term: str) -> tuple[int, list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]]:
        """(document frequency over live chunks, [(segment, docs, tfs, which are live)]) of a term;
        remembered for terms with few postings (this version never changes, and question words repeat)."""
        try:
            return self._terms[term]
        except KeyError:
            pass
        key = term.encode("utf-8")
        df, parts, size = 0, [], 0
        for s, (segment, live) in enumerate(zip(self.segments, self.live, strict=True)):
            got = segment.postings(key)
            if got is None:
                continue
            alive = live[got[0]]
            df += int(alive.sum())
            size += len(alive)
            parts.append((s, got[0], got[1], alive))
        if size <= MEMO_POSTINGS and len(self._terms) < MEMO_TERMS:
            self._terms[term] = (df, parts)
        return df, parts

    def document_frequency(self, term: str) -> int:
        """Live chunks that use the term."""
        return self._postings(term)[0]

    def idf(self, df: int) -> float:
        return math.log(1 + (self.live_chunks - df + 0.5) / (df + 0.5))

    def search(
        self, query: Sequence[str], n: int, sources: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """The `n` best live chunks for the query terms by BM25, as (chunk id, score), best first, ties by
        chunk id (so the order does not depend on how updates cut the segments). Chunks of other sources
        than `sources` are left out."""
        if not self.live_chunks or not query:
            return []
        average = self.live_length / self.live_chunks
        found: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # (segment, docs, tfs, live)
        weights: list[float] = []
        for term in query:
            df, parts = self._postings(term)
            if df:
                found.extend(parts)
                weights.extend([self.idf(df)] * len(parts))
        if not found:
            return []
        wanted = np.array(self.codes.known(sources), dtype=np.int32) if sources else None
        best: list[tuple[float, bytes]] = []  # (-score, chunk id)
        for s in sorted({f[0] for f in found}):
            segment, live = self.segments[s], self.live[s]
            scores = np.zeros(len(segment), dtype=np.float32)
            for (at, docs, tfs, alive), idf in zip(found, weights, strict=True):
                if at != s:
                    continue
                docs, tf = docs[alive], tfs[alive].astype(np.float32)
                norm = K1 * ((1 - B) + B * segment.lengths[docs].astype(np.float32) / average)
                scores[docs] += np.float32(idf) * tf / (norm + tf)
            if wanted is not None:
                scores[~np.isin(segment.sources, wanted)] = 0.0
            scores[~live] = 0.0
            hit = np.flatnonzero(scores > 0)
            if len(hit) > n:  # keep every chunk tied with the n-th: the tie-break is by id, below
                cut = np.partition(scores[hit], len(hit) - n)[len(hit) - n]
                hit = hit[scores[hit] >= cut]
            best.extend((-float(scores[i]), bytes(segment.ids[i])) for i in hit)
        best.sort()
        return [(cid.decode("ascii"), -neg) for neg, cid in best[:n]]

    def contains(self, chunk_id: str) -> bool:
        """Whether the chunk is live in this version."""
        return bool(self.live_among([chunk_id]))

    def live_among(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of these chunks are live in this version (one sorted lookup per segment)."""
        if not chunk_ids:
            return set()
        keys = np.array([c.encode("ascii") for c in chunk_ids], dtype="S16")
        out: set[str] = set()
        for segment, live in zip(self.segments, self.live, strict=True):
            if not len(segment):
                continue
            at = np.minimum(np.searchsorted(segment.ids, keys, sorter=segment.id_order), len(segment) - 1)
            position = segment.id_order[at]
            hit = (segment.ids[position] == keys) & live[position]
            out.update(chunk_ids[int(i)] for i in np.flatnonzero(hit))
        return out

    def chunk_ids(self, source: str) -> list[str]:
        """The live chunks of a document, in document order."""
        at = self.located.get(source)
        if at is None:
            return []
        lo, hi = self.segments[at].spans[source]
        live = self.live[at][lo:hi]
        return [cid.decode("ascii") for cid in self.segments[at].ids[lo:hi][live]]


def _live_sources(segment: Segment, live: np.ndarray) -> list[str]:
    return [source for source, (lo, hi) in segment.spans.items() if live[lo:hi].any()]
