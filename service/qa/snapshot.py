"""An immutable view of one index version: the manifest, the lexical index and the spelling vocabulary.

Requests use whichever snapshot they picked up, so an ingest (here or in another process sharing the
Chroma server) never makes a request see half an index; a background refresh swaps in the next version.
The next version is made from the previous one and the documents that changed (the index records which
sources each version changed): a one-file change costs that file, not the corpus. Chunk texts and
vectors stay in the store and are read by id when a question needs them (`chunks.py`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from verbatim.ingest.index.records import ChunkRecord, DocumentRecord
from verbatim.ingest.index.store import IndexStore, IndexUnavailable
from verbatim.service import telemetry as metrics
from verbatim.service.qa import lexical_cache
from verbatim.service.qa.chunks import (
    DEFAULT_CAPACITY,
    ChunkSource,
    MemoryChunks,
    StaleSnapshot,
    StoredChunks,
)
from verbatim.service.qa.lexical import IndexedChunk, LexicalIndex
from verbatim.service.qa.spelling import Vocabulary, WordTally
from verbatim.service.qa.text import terms
from verbatim.service.qa.vectors import ExactVectors

log = logging.getLogger("verbatim.snapshot")
T = TypeVar("T")
# What is kept besides the index, computed on first use (`Snapshot.memo`). Keys are content-addressed
# (chunk ids, file hashes), so values hold for every version that still has those chunks.
MemoKind = Literal[
    "sentence",  # (source, sha256, start, end) → (is a quotable statement, its terms)   extractive.py
    "passage_terms",  # chunk id → terms of the chunk's title and text                  extractive.py
    "shingles",  # chunk id → 5-word shingles, for near-duplicate collapse             retrieval.py
    "byline",  # (source, sha256, title, author) → where the article's byline is      authorship.py
]
MEMO_CAPACITY = 200_000


class Memo:
    """A bounded store of derived values, shared by every snapshot of one holder."""

    def __init__(self, capacity: int = MEMO_CAPACITY) -> None:
        self.capacity = capacity
        self._values: dict[Hashable, Any] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """Safe from many threads: at worst two compute the same value."""
        try:
            return self._values[key]
        except KeyError:
            if len(self._values) >= self.capacity:
                self._values.clear()  # rare; simpler and as good as LRU for values this cheap to remake
            value = self._values[key] = make()
            return value


def indexed(chunk_id: str, title: str, text: str, source: str) -> IndexedChunk:
    """A chunk as the lexical index reads it: the terms of its title and text."""
    return IndexedChunk(chunk_id, source, terms(f"{title} {text}"))


@dataclass
class Snapshot:
    """Everything retrieval and answering read, for one index version."""

    version: int
    documents: dict[str, DocumentRecord]
    lexical: LexicalIndex
    vocabulary: Vocabulary
    chunk_source: ChunkSource
    shared: Memo = field(default_factory=Memo, repr=False)
    vectors: ExactVectors | None = field(default=None, repr=False)  # a small index's, searched exactly
    loaded_at: float = field(default_factory=time.time)
    _weights: dict[str, float] = field(init=False, default_factory=dict, repr=False)

    @classmethod
    def of_chunks(
        cls, version: int, documents: dict[str, DocumentRecord], chunks: Sequence[ChunkRecord]
    ) -> Snapshot:
        """A snapshot of records held in memory (tests, tools)."""
        ordered = sorted(chunks, key=lambda c: (c.source, c.start, c.end))
        return cls(
            version=version,
            documents=documents,
            lexical=LexicalIndex.build(indexed(c.chunk_id, c.title, c.text, c.source) for c in ordered),
            vocabulary=Vocabulary(f"{c.title}\n{c.text}" for c in ordered),
            chunk_source=MemoryChunks(ordered),
            vectors=ExactVectors.of(ordered),
        )

    @property
    def chunk_count(self) -> int:
        return self.lexical.live_chunks

    @property
    def max_idf(self) -> float:
        n = max(self.lexical.live_chunks, 1)
        return math.log(1 + (n + 0.5) / 0.5)

    def term_weight(self, term: str) -> float:
        """IDF of a term; a term the corpus never uses weighs as much as the rarest one."""
        try:
            return self._weights[term]
        except KeyError:
            df = self.lexical.document_frequency(term)
            weight = self.lexical.idf(df) if df else self.max_idf
            if len(self._weights) < 100_000:
                self._weights[term] = weight
            return weight

    def knows_term(self, term: str) -> bool:
        """Whether some chunk of this version uses the term."""
        return self.term_weight(term) < self.max_idf

    def has_chunk(self, chunk_id: str) -> bool:
        return self.lexical.contains(chunk_id)

    def chunks(self, ids: Sequence[str]) -> list[ChunkRecord]:
        """The chunks with these ids, in that order. Raises StaleSnapshot when one is gone from the
        store (a newer version replaced it after this one was loaded)."""
        found = self.chunk_source.get(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise StaleSnapshot(f"index version {self.version} lost {len(missing)} chunk(s) to a newer one")
        return [found[i] for i in ids]

    def chunk(self, chunk_id: str) -> ChunkRecord:
        return self.chunks([chunk_id])[0]

    def document_chunks(self, source: str) -> list[ChunkRecord]:
        """A document's chunks in document order."""
        return sorted(self.chunks(self.lexical.chunk_ids(source)), key=lambda c: (c.start, c.end))

    def memo(self, kind: MemoKind, key: Hashable, make: Callable[[], T]) -> T:
        """A value derived only from immutable chunk content, computed on first use and kept (bounded)
        so requests do not redo per-chunk text work. Every kind of value kept is declared in MemoKind."""
        return self.shared.get((kind, key), make)


class SnapshotHolder:
    """Owns the current snapshot and moves it to the index's version when that changes."""

    def __init__(
        self,
        store: IndexStore,
        interval: float = 1.0,
        chunk_cache: int = DEFAULT_CAPACITY,
        cache_path: Path | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.chunk_source = StoredChunks(store, chunk_cache)
        self.cache_path = cache_path  # where the lexical index is saved (indexes larger than chunk_cache)
        self.memo = Memo()
        self._current: Snapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self.last_error: str | None = None
        self.last_load: dict[str, Any] = {}  # how the last version was loaded: kind, documents, seconds

    @property
    def current(self) -> Snapshot | None:
        return self._current

    def refresh(self, force: bool = False) -> Snapshot | None:
        """Load the index's version if it moved (cheap when it did not): by the changed documents when
        the index recorded them, else by comparing the whole manifest; `force` rebuilds from scratch."""
        with self._lock:
            try:
                version = self.store.version()
                current = self._current
                # A version lower than the one served: the index was rebuilt from scratch; read it whole.
                if force or current is None or version < current.version:
                    self._current = self._full(version)
                elif version != current.version:
                    self._current = self._update(current, version)
                self.last_error = None
            except IndexUnavailable as exc:
                self.last_error = str(exc)
            return self._current

    def _full(self, version: int) -> Snapshot:
        """The whole index: a small one read whole into memory (chunks too); a large one from the saved
        lexical cache plus what changed since, or else read and tokenised from the store (and saved)."""
        started = time.perf_counter()
        documents = self.store.manifest()
        small = sum(d.chunks for d in documents.values()) <= self.chunk_source.capacity
        cached = None if small or self.cache_path is None else lexical_cache.load(self.cache_path)
        if cached is not None:
            changed = {
                s
                for s in set(documents) | set(cached.reflects)
                if s not in documents
                or cached.reflects.get(s) != (documents[s].sha256, documents[s].pipeline)
            }
            found = {s: documents[s] for s in changed if s in documents}
            base = (cached.lexical, cached.vocabulary, None)
            return self._advance(*base, documents, found, changed, version, "cache", started)
        tally = WordTally()
        records: list[ChunkRecord] = []

        def chunks() -> Iterator[IndexedChunk]:
            for chunk_id, text, meta, vector in self._stored(documents, sorted(documents), vectors=small):
                tally.add(f"{meta['title']}\n{text}")
                if vector is not None:
                    records.append(ChunkRecord.from_stored(chunk_id, text, meta, vector))
                yield indexed(chunk_id, str(meta["title"]), text, str(meta["source"]))

        lexical = LexicalIndex.build(chunks())
        self.chunk_source.warm(records)  # a small index is served from memory from the first question
        vocabulary = Vocabulary(layers=(tally.done(),))
        _return_memory()  # the build's temporaries (chunk texts, term lists) go back to the system
        vectors = ExactVectors.of(records) if small else None
        snapshot = Snapshot(
            version, documents, lexical, vocabulary, self.chunk_source, shared=self.memo, vectors=vectors
        )
        self._loaded("full", len(documents), started, snapshot)
        if not small:
            self._save(snapshot)
        return snapshot

    def _update(self, current: Snapshot, version: int) -> Snapshot:
        """The next version from the current one and the documents that changed."""
        started = time.perf_counter()
        changed = self.store.changes(current.version, version)
        documents = dict(current.documents)
        if changed is None:  # not recorded: compare the whole manifest
            fresh = self.store.manifest()
            changed = {
                s
                for s in set(fresh) | set(documents)
                if s not in fresh or s not in documents or not _same(fresh[s], documents[s])
            }
            found = {s: fresh[s] for s in changed if s in fresh}
        else:
            found = self.store.manifest(sorted(changed))
        for source in changed:
            documents.pop(source, None)
        documents.update(found)
        base = (current.lexical, current.vocabulary, current.vectors)
        return self._advance(*base, documents, found, changed, version, "update", started)

    def _advance(
        self,
        lexical: LexicalIndex,
        vocabulary: Vocabulary,
        vectors: ExactVectors | None,
        documents: dict[str, DocumentRecord],
        found: dict[str, DocumentRecord],
        changed: set[str],
        version: int,
        kind: str,
        started: float,
    ) -> Snapshot:
        """`lexical`, `vocabulary` and `vectors` (if the index is searched exactly) with the `changed`
        sources replaced by their stored chunks (those committed in `found`; the others were removed)."""
        texts: list[str] = []
        added: list[IndexedChunk] = []
        records: list[ChunkRecord] = []
        for cid, text, meta, vector in self._stored(
            found, sorted(found), vectors=vectors is not None, texts=texts
        ):
            added.append(indexed(cid, str(meta["title"]), text, str(meta["source"])))
            if vector is not None:
                records.append(ChunkRecord.from_stored(cid, text, meta, vector))
        applied = lexical.apply(changed, added)
        lexical = applied.compacted()
        if vectors is not None:
            vectors = vectors.replaced(changed, records)
            self.chunk_source.warm(records)
            if len(vectors) > self.chunk_source.capacity:  # outgrown memory: Chroma searches from now on
                vectors = None
        snapshot = Snapshot(
            version,
            documents,
            lexical,
            vocabulary.with_texts(texts),
            self.chunk_source,
            shared=self.memo,
            vectors=vectors,
        )
        self._loaded(kind, len(changed), started, snapshot)
        if kind == "cache" or lexical is not applied:  # loaded, or compacted: worth saving
            self._save(snapshot)
        return snapshot

    def _loaded(self, kind: str, documents: int, started: float, snapshot: Snapshot) -> None:
        seconds = time.perf_counter() - started
        self.last_load = {"kind": kind, "documents": documents, "seconds": seconds}
        metrics.INDEX_LOADS.labels(kind).observe(seconds)
        log.info(
            "index version %s loaded: %s chunks (%s: %s document(s), %.3f s)",
            snapshot.version,
            snapshot.chunk_count,
            kind,
            documents,
            seconds,
        )

    def _save(self, snapshot: Snapshot) -> None:
        """Save the lexical index for the next start, in the background (the snapshot is served
        meanwhile; snapshots never change, so saving one while requests read it is safe). Large indexes
        only; one save at a time (a skipped one is redone by the next compaction or full load)."""
        if self.cache_path is None or snapshot.chunk_count <= self.chunk_source.capacity:
            return
        if self._saver is not None and self._saver.is_alive():
            return
        path = self.cache_path

        def save() -> None:
            reflects = {s: (d.sha256, d.pipeline) for s, d in snapshot.documents.items()}
            try:
                cached = lexical_cache.Cached(
                    snapshot.version, reflects, snapshot.lexical, snapshot.vocabulary
                )
                lexical_cache.save(path, cached)
            except OSError as exc:
                log.warning("could not save the lexical cache at %s: %s", path, exc)

        self._saver = threading.Thread(target=save, name="lexical-cache-save", daemon=True)
        self._saver.start()

    def wait_saved(self, timeout: float = 60.0) -> None:
        """Wait for a background save to end (tests, shutdown)."""
        if self._saver is not None:
            self._saver.join(timeout)

    def _stored(
        self,
        documents: dict[str, DocumentRecord],
        sources: Sequence[str],
        vectors: bool,
        texts: list[str] | None = None,
    ) -> Iterator[tuple[str, str, dict[str, Any], Any]]:
        """The stored chunks of `sources`, each document's together and in document order."""
        for first in range(0, len(sources), 100):
            batch = sorted(
                self.store.stored_chunks(documents, sources[first : first + 100], vectors=vectors),
                key=lambda row: (str(row[2]["source"]), int(row[2]["start"]), int(row[2]["end"])),
            )
            for row in batch:
                if texts is not None:
                    texts.append(f"{row[2]['title']}\n{row[1]}")
                yield row

    def start(self) -> None:
        """Poll the index version in the background (other processes may ingest)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="snapshot-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.wait_saved()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # never let the refresher die; the next tick retries
                log.exception("snapshot refresh failed")


def _return_memory() -> None:
    """Give freed heap back to the operating system after a large build (glibc keeps it otherwise,
    and the process's resident memory stays at its peak). A no-op where there is no glibc."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _same(a: DocumentRecord, b: DocumentRecord) -> bool:
    return a.sha256 == b.sha256 and a.pipeline == b.pipeline and a.ingested_at == b.ingested_at
