"""Where answering gets a chunk's text, sentences and vectors: fetched by id from the store when first
needed, then kept in a bounded cache. The API process holds no copy of the corpus; at the seeds' scale
the cache holds all of it after the first questions.

Chunk ids are content-addressed (source, file hash, span, pipeline), so a cached chunk is valid for every
index version that still has it, and the cache outlives snapshots.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Protocol

from verbatim.ingest.index.records import ChunkRecord
from verbatim.ingest.index.store import IndexStore
from verbatim.service import telemetry as metrics

DEFAULT_CAPACITY = 20_000  # ~10 KB each with sentence vectors: ~200 MB at most


class StaleSnapshot(RuntimeError):
    """A chunk of the version a request reads is gone from the store: a newer version replaced it. The
    request is answered again on the newer version (never from a mix of the two)."""


class ChunkSource(Protocol):
    def get(self, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        """The chunks with these ids that exist (a missing id is left out)."""
        ...


class MemoryChunks:
    """Chunks held in memory (tests, tools that build a snapshot from records)."""

    def __init__(self, chunks: Iterable[ChunkRecord]) -> None:
        self._chunks = {c.chunk_id: c for c in chunks}

    def get(self, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        return {i: self._chunks[i] for i in ids if i in self._chunks}


class StoredChunks:
    """Chunks read from the store by id, least recently used evicted past `capacity`."""

    def __init__(self, store: IndexStore, capacity: int = DEFAULT_CAPACITY) -> None:
        self.store = store
        self.capacity = capacity
        self._cache: OrderedDict[str, ChunkRecord] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        out: dict[str, ChunkRecord] = {}
        missing: list[str] = []
        with self._lock:
            for i in ids:
                found = self._cache.get(i)
                if found is None:
                    missing.append(i)
                else:
                    self._cache.move_to_end(i)
                    out[i] = found
        if missing:
            fetched = self.store.get_chunks(missing)
            metrics.CHUNKS_FETCHED.inc(len(fetched))
            with self._lock:
                for record in fetched:
                    self._cache[record.chunk_id] = record
                    out[record.chunk_id] = record
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        return out

    def warm(self, records: Iterable[ChunkRecord]) -> None:
        """Fill the cache with records already read (a full load), up to its capacity."""
        with self._lock:
            for record in records:
                if len(self._cache) >= self.capacity:
                    break
                self._cache[record.chunk_id] = record
