"""An immutable in-memory view of one index version: chunks, BM25 and sentence vectors.

Requests use whichever snapshot they picked up, so an ingest (here or in another process sharing the
Chroma server) never makes a request see half an index; a background refresh swaps in the new version.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypeVar

import bm25s
import numpy as np

from verbatim.ingest.index.records import ChunkRecord, DocumentRecord
from verbatim.ingest.index.store import IndexStore, IndexUnavailable
from verbatim.service.qa.spelling import Vocabulary
from verbatim.service.qa.text import terms

log = logging.getLogger("verbatim.snapshot")
T = TypeVar("T")
# What a snapshot keeps besides its chunks, BM25 and vocabulary, computed on first use (`Snapshot.memo`):
MemoKind = Literal[
    "sentence",  # (source, start, end) → (is a quotable statement, its terms)   extractive.py
    "passage_terms",  # chunk id → terms of the chunk's title and text               extractive.py
    "shingles",  # chunk index → 5-word shingles, for near-duplicate collapse       retrieval.py
    "byline",  # (source, title, author) → where the article's byline is            authorship.py
]


@dataclass
class Snapshot:
    """Everything retrieval and answering read, for one index version."""

    version: int
    documents: dict[str, DocumentRecord]
    chunks: list[ChunkRecord]
    by_id: dict[str, int] = field(init=False)
    bm25: bm25s.BM25 | None = field(init=False)
    idf: dict[str, float] = field(init=False)
    max_idf: float = field(init=False)
    sources: np.ndarray = field(init=False)
    loaded_at: float = field(default_factory=time.time)
    _memo: dict[Hashable, Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        tokenised = [terms(f"{c.title} {c.text}") for c in self.chunks]
        self.sources = np.array([c.source for c in self.chunks], dtype=object)
        df: Counter[str] = Counter()
        for toks in tokenised:
            df.update(set(toks))
        n = max(len(self.chunks), 1)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5)
        self.bm25 = None
        if self.chunks:
            self.bm25 = bm25s.BM25()
            self.bm25.index([t or ["\x00"] for t in tokenised], show_progress=False)

    @cached_property
    def vocabulary(self) -> Vocabulary:
        """The corpus's words with counts: what a misspelt question word is read as (built on first use)."""
        return Vocabulary(f"{c.title}\n{c.text}" for c in self.chunks)

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    def term_weight(self, term: str) -> float:
        """IDF of a term; a term the corpus never uses weighs as much as the rarest one."""
        return self.idf.get(term, self.max_idf)

    def memo(self, kind: MemoKind, key: Hashable, make: Callable[[], T]) -> T:
        """A value derived only from this snapshot's (immutable) chunks, computed on first use and kept
        for the snapshot's life, so requests do not redo per-chunk text work. Every kind of value kept
        is declared in MemoKind. Safe from many threads: at worst two compute the same value."""
        try:
            return self._memo[(kind, key)]
        except KeyError:
            value = self._memo[(kind, key)] = make()
            return value


class SnapshotHolder:
    """Owns the current snapshot and refreshes it when the index version changes."""

    def __init__(self, store: IndexStore, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self._current: Snapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def current(self) -> Snapshot | None:
        return self._current

    def refresh(self, force: bool = False) -> Snapshot | None:
        """Load a new snapshot if the index version moved (cheap when it did not)."""
        with self._lock:
            try:
                version = self.store.version()
                if force or self._current is None or version != self._current.version:
                    documents = self.store.manifest()
                    chunks = self.store.load_chunks(documents)
                    snapshot = Snapshot(version=version, documents=documents, chunks=chunks)
                    snapshot.vocabulary  # noqa: B018  # built before the swap: no request waits for it
                    self._current = snapshot
                    log.info("index version %s loaded: %s chunks", version, len(chunks))
                self.last_error = None
            except IndexUnavailable as exc:
                self.last_error = str(exc)
            return self._current

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

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # never let the refresher die; the next tick retries
                log.exception("snapshot refresh failed")
