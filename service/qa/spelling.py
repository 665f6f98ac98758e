"""Reading a misspelt question word as the corpus word it was meant to be ("Ljubljna" → "Ljubljana").

The vocabulary is the corpus's own (learnt from the indexed text, per snapshot), so the corrector knows
the names, commands and jargon of these documents and no others. A question word is corrected only when
 - the corpus never uses it,
 - it is not a common English word (the embedding model's vocabulary holds it whole: "cost", "visit"),
 - exactly one edit (insert, delete, substitute, swap two neighbours) turns it into a corpus word; among
   several such words the most frequent one wins.
Lookup is symmetric-delete (SymSpell): every corpus word is indexed under itself and its one-letter
deletions, so a question word's candidates are found with a handful of dictionary probes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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


class Vocabulary:
    """The corpus's words (folded) with their counts, the spelling most used for each, and a delete index."""

    def __init__(self, texts: Iterable[str]) -> None:
        counts: Counter[str] = Counter()
        spellings: dict[str, Counter[str]] = {}
        for text in texts:
            for match in _WORD.finditer(text):
                raw = match.group(0)
                key = fold(raw)
                counts[key] += 1
                if len(key) >= MIN_LENGTH - 1:
                    spellings.setdefault(key, Counter())[raw] += 1
        self.counts = counts
        self._spelling = {k: c.most_common(1)[0][0] for k, c in spellings.items()}
        self._index: dict[str, list[str]] = {}
        for word in counts:
            if len(word) < MIN_LENGTH - 1:
                continue
            for key in {word, *_deletes(word)}:
                self._index.setdefault(key, []).append(word)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and fold(word) in self.counts

    def __len__(self) -> int:
        return len(self.counts)

    def suggest(self, word: str) -> str | None:
        """The corpus word one edit away from `word` (folded), most frequent first; None if none."""
        found: set[str] = set()
        for key in {word, *_deletes(word)}:
            found.update(self._index.get(key, ()))
        found = {w for w in found if w != word and within_one_edit(word, w)}
        if not found:
            return None
        best = max(found, key=lambda w: (self.counts[w], w))
        return self._spelling.get(best, best)


def corrections(
    question: str, vocabulary: Vocabulary, is_common_word: Callable[[str], bool] = lambda _: False
) -> list[Correction]:
    """The words of `question` to read as another corpus word, in order of appearance."""
    found: list[Correction] = []
    for match in _WORD.finditer(question):
        typed = match.group(0)
        key = fold(typed)
        if len(key) < MIN_LENGTH or key in vocabulary.counts or is_common_word(key):
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
