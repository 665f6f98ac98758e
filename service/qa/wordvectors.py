"""Single-word vectors from the query encoder, cached, for soft term matching.

Answerability needs to know whether each thing a question asks about is in the evidence: "cost" is
not in "1,000 tons of wheat", but "held" is "hold" and "airliner" is "airlines". A stemmer misses the
second kind and a thesaurus is not at hand offline, so a question term that does not match a window
word by stem is compared with the window's words by the embedding model itself (each word embedded
alone; all-MiniLM-L6-v2 gives related words a cosine of about 0.5 or more and unrelated ones about
0.3). Words recur, so each is embedded once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

Embed = Callable[[list[str]], np.ndarray]


class WordVectors:
    """A bounded cache of normalised word vectors in front of an embedding function."""

    def __init__(self, embed: Embed, capacity: int = 100_000) -> None:
        self._embed = embed
        self.capacity = capacity
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def vectors(self, words: Sequence[str]) -> np.ndarray:
        """One row per word, in order (unseen words are embedded in one batch)."""
        missing = [w for w in dict.fromkeys(words) if w not in self._cache]
        if missing:
            fresh = self._embed(missing)
            with self._lock:
                if len(self._cache) + len(missing) > self.capacity:
                    self._cache.clear()  # rare; simpler and as good as LRU for a vocabulary cache
                self._cache.update(zip(missing, fresh.astype(np.float32), strict=True))
        cache = self._cache
        rows = [cache.get(w) for w in words]
        if any(r is None for r in rows):  # evicted by a concurrent clear: embed again
            return self._embed(list(words)).astype(np.float32)
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)  # type: ignore[arg-type]

    def warm(
        self, words: Sequence[str], batch: int = 256, should_stop: Callable[[], bool] = lambda: False
    ) -> int:
        """Embed the words not cached yet, a batch at a time (a background warm-up, so that the first
        questions do not pay for the corpus's vocabulary), until `should_stop`; returns how many were
        embedded."""
        room = max(0, self.capacity - len(self._cache))
        todo = [w for w in dict.fromkeys(words) if w not in self._cache][:room]
        done = 0
        for first in range(0, len(todo), batch):
            if should_stop():
                break
            done += len(self.vectors(todo[first : first + batch]))
        return done

    def best_match(self, terms: Sequence[str], window: Sequence[str]) -> np.ndarray:
        """For each term, its highest cosine to any window word (0 for an empty window)."""
        if not terms:
            return np.zeros(0, dtype=np.float32)
        if not window:
            return np.zeros(len(terms), dtype=np.float32)
        unique = list(dict.fromkeys(window))
        sims = self.vectors(list(terms)) @ self.vectors(unique).T
        return sims.max(axis=1)
