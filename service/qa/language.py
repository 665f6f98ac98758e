"""Questions in a language the embedding model does not read.

The packaged model (all-MiniLM-L6-v2) was trained on English: a German or Russian question gets vectors
that mean little, and "the documents do not say" would be a wrong answer. Such a question is told so.
The check is conservative, so short English keyword queries and foreign names never trip it: the
language identifier (py3langid, whose model ships in its package) must be confident the question is not
English, and most of the question's words must be unknown to the corpus (a German corpus asked in German
is still searched by its words).
"""

from __future__ import annotations

import threading
from collections.abc import Container
from functools import lru_cache
from typing import Any

from verbatim.service.qa.text import words

COVERED = "en"
MIN_WORDS = 3
MIN_PROBABILITY = 0.5  # of the identified language
MAX_ENGLISH = 0.05  # probability left for English
MAX_KNOWN_SHARE = 0.5  # of the question's content words found in the corpus

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True)


def warm_up() -> None:
    """Load the identifier's model now (0.7 s) rather than on a first foreign question."""
    with _lock:
        _identifier()


def foreign_language(question: str, known: Container[str] | None = None) -> str | None:
    """The ISO code of the question's language when it is confidently not English, else None.

    `known`: folded words the corpus uses; a question mostly made of them is searched as it is."""
    content = words(question)
    if len(question.split()) < MIN_WORDS or not content:
        return None
    if known is not None and sum(w in known for w in content) > MAX_KNOWN_SHARE * len(content):
        return None
    with _lock:
        ranked = dict(_identifier().rank(question))
    lang, prob = max(ranked.items(), key=lambda kv: kv[1])
    if lang == COVERED or prob < MIN_PROBABILITY or ranked.get(COVERED, 0.0) > MAX_ENGLISH:
        return None
    return str(lang)


def message(lang: str) -> str:
    """What the user is told instead of an answer."""
    return (
        f"This question seems to be in a language other than English ({lang}). The embedding model used "
        "here reads English only, so it cannot search these documents reliably; please ask in English."
    )
