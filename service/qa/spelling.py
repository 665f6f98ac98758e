"""Reading a misspelt question word as the corpus word it was meant to be ("Ljubljna" → "Ljubljana").

The vocabulary is the corpus's own (learnt from the indexed text, per snapshot), so the corrector knows
the names, commands and jargon of these documents and no others. A question word is corrected only when
 - the corpus never uses it,
 - it is not a common English word (the embedding model's vocabulary holds it whole: "cost", "visit"),
 - exactly one edit (insert, delete, substitute, swap two neighbours) turns it into a corpus word; among
   several such words the most frequent one wins.
Lookup is symmetric-delete (SymSpell): every corpus word is indexed under itself and its one-letter
deletions, so a question word's candidates are found with a handful of probes. The index holds 64-bit
hashes of the keys in a sorted numpy array (12 bytes per key, no string per deletion; a hash collision
only adds a candidate that the edit check then drops). The vocabulary grows by layers, one per index
change, so an update costs the changed documents; words of removed documents stay until the layers
are merged by a full rebuild (they can only ever be suggested, never retrieved).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from verbatim.service.qa.text import fold

MIN_LENGTH = 5  # shorter words have too many one-edit neighbours to guess safely
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)


@dataclass(frozen=True)
class Correction:
    """A question word (as typed) read as a corpus word (as the corpus writes it most often)."""

    typed: str
    corrected: str
    start: int  # offsets of the typed word in the question
    end: int


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance ≤ 1 (an adjacent swap counts as one edit)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


@dataclass(frozen=True)
class WordCounts:
    """One layer of a vocabulary: folded words with counts, and the written form used most for each
    (kept only where it differs from the folded word)."""

    counts: dict[str, int]
    spellings: dict[str, tuple[str, int]]

    @cached_property
    def deletes(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The delete index: sorted key hashes, the word each key belongs to, the words indexed."""
        words = [w for w in self.counts if len(w) >= MIN_LENGTH - 1]
        keys: list[int] = []
        owners: list[int] = []
        for i, word in enumerate(words):
            variants = {word, *_deletes(word)}
            keys.extend(hash(v) for v in variants)
            owners.extend([i] * len(variants))
        hashes = np.array(keys, dtype=np.int64)
        order = np.argsort(hashes, kind="stable")
        return hashes[order], np.array(owners, dtype=np.int32)[order], words

    def near(self, word: str) -> set[str]:
        """The words of this layer one edit from `word` (not `word` itself)."""
        hashes, owners, words = self.deletes
        probe = np.array([hash(v) for v in {word, *_deletes(word)}], dtype=np.int64)
        found: set[str] = set()
        for lo, hi in zip(
            np.searchsorted(hashes, probe, "left"), np.searchsorted(hashes, probe, "right"), strict=True
        ):
            found.update(words[j] for j in owners[lo:hi])
        found.discard(word)
        return {w for w in found if within_one_edit(word, w)}

    @classmethod
    def of(cls, texts: Iterable[str]) -> WordCounts:
        tally = WordTally()
        for text in texts:
            tally.add(text)
        return tally.done()


class WordTally:
    """Counts words text by text (nothing of the texts is kept), then makes a `WordCounts`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.written: Counter[str] = Counter()

    def add(self, text: str) -> None:
        for match in _WORD.finditer(text):
            raw = match.group(0)
            key = fold(raw)
            self.counts[key] += 1
            if raw != key and len(key) >= MIN_LENGTH - 1:
                self.written[raw] += 1

    def done(self) -> WordCounts:
        spellings: dict[str, tuple[str, int]] = {}
        for raw, n in self.written.items():
            key = fold(raw)
            if n > spellings.get(key, ("", 0))[1]:
                spellings[key] = (raw, n)
        return WordCounts(dict(self.counts), spellings)


class Vocabulary:
    """The corpus's words (folded) with their counts and the spelling most used for each: layers of
    `WordCounts`, read as their sum. Immutable: `with_texts` returns the next version."""

    MAX_LAYERS = 6

    def __init__(self, texts: Iterable[str] = (), layers: tuple[WordCounts, ...] | None = None) -> None:
        self.layers = layers if layers is not None else (WordCounts.of(texts),)
        self._suggested: dict[str, str | None] = {}
        for layer in self.layers:
            layer.deletes  # noqa: B018  # built here, off the request path (kept with the layer)

    def with_texts(self, texts: Iterable[str]) -> Vocabulary:
        """This vocabulary plus the words of `texts` (a new layer; the newest layers are merged when
        there are too many, which costs those layers only)."""
        layers = (*self.layers, WordCounts.of(texts))
        if len(layers) > self.MAX_LAYERS:
            layers = (layers[0], merged(layers[1:]))
        return Vocabulary(layers=layers)

    def count(self, word: str) -> int:
        """Occurrences of a folded word."""
        return sum(layer.counts.get(word, 0) for layer in self.layers)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and any(fold(word) in layer.counts for layer in self.layers)

    def __len__(self) -> int:
        return len(self.layers[0].counts) if len(self.layers) == 1 else len(self.words())

    def words(self) -> set[str]:
        return set().union(*(layer.counts for layer in self.layers))

    def most_common(self, n: int) -> list[str]:
        """The `n` most frequent folded words."""
        total: Counter[str] = Counter()
        for layer in self.layers:
            total.update(layer.counts)
        return [w for w, _ in total.most_common(n)]

    def spelling(self, word: str) -> str:
        found = [layer.spellings[word] for layer in self.layers if word in layer.spellings]
        return max(found, key=lambda s: s[1])[0] if found else word

    def suggest(self, word: str) -> str | None:
        """The corpus word one edit away from `word` (folded), most frequent first; None if none.
        Remembered per vocabulary: a word asked about again costs nothing."""
        try:
            return self._suggested[word]
        except KeyError:
            pass
        found = set().union(*(layer.near(word) for layer in self.layers))
        best = self.spelling(max(found, key=lambda w: (self.count(w), w))) if found else None
        if len(self._suggested) < 10_000:
            self._suggested[word] = best
        return best


def merged(layers: Iterable[WordCounts]) -> WordCounts:
    counts: Counter[str] = Counter()
    spellings: dict[str, tuple[str, int]] = {}
    for layer in layers:
        counts.update(layer.counts)
        for key, (raw, n) in layer.spellings.items():
            if n > spellings.get(key, ("", 0))[1]:
                spellings[key] = (raw, n)
    return WordCounts(dict(counts), spellings)


def corrections(
    question: str, vocabulary: Vocabulary, is_common_word: Callable[[str], bool] = lambda _: False
) -> list[Correction]:
    """The words of `question` to read as another corpus word, in order of appearance."""
    found: list[Correction] = []
    for match in _WORD.finditer(question):
        typed = match.group(0)
        key = fold(typed)
        if len(key) < MIN_LENGTH or key in vocabulary or is_common_word(key):
            continue
        corrected = vocabulary.suggest(key)
        if corrected is not None:
            found.append(Correction(typed, corrected, match.start(), match.end()))
    return found


def apply(question: str, found: list[Correction]) -> str:
    """The question with each corrected word replaced (the rest untouched)."""
    out, cursor = [], 0
    for c in found:
        out.append(question[cursor : c.start])
        out.append(c.corrected)
        cursor = c.end
    out.append(question[cursor:])
    return "".join(out)
