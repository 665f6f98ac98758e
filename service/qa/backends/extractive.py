"""The extractive answerer behind the backend interface (no model: the best sentences, quoted verbatim).

`/ask` with backend "extractive" calls the engine directly; this adapter exists so that anything written
against `AnswerBackend` (the evals, a plugin wrapping another backend) can use the extractive answerer too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from verbatim.service.qa.backends.base import BackendAnswer, BackendError, NumberedPassage
from verbatim.service.qa.backends.prompt import ABSTAIN_PHRASE
from verbatim.service.qa.retrieval import Hit

if TYPE_CHECKING:
    from verbatim.service.qa.engine import Engine


class ExtractiveBackend:
    """Answers with up to three verbatim sentences of the passages, each cited by passage number."""

    name = "extractive"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _answer(self, question: str, passages: Sequence[NumberedPassage]) -> BackendAnswer:
        snap = self.engine.snapshot()
        hits: list[Hit] = []
        number: dict[str, int] = {}
        for p in passages:
            if not snap.has_chunk(p.chunk_id):
                raise BackendError("bad_request", f"passage {p.n} is not in the index (chunk {p.chunk_id!r})")
            hits.append(Hit(chunk=snap.chunk(p.chunk_id), similarity=p.score, fused=0.0))
            number[p.chunk_id] = p.n
        parsed = self.engine.parse(snap, question)
        vector = self.engine.retriever.embed_query(parsed)
        extracted = self.engine.answerer.answer(snap, parsed, vector, hits)
        if extracted.abstained or not extracted.quotes:
            return BackendAnswer(text=ABSTAIN_PHRASE)
        quotes = [(number[q.hit.chunk.chunk_id], q.text) for q in extracted.quotes]
        return BackendAnswer(text=" ".join(f"“{text}” [{n}]" for n, text in quotes), quotes=quotes)

    async def answer(self, question: str, passages: Sequence[NumberedPassage]) -> BackendAnswer:
        return await asyncio.to_thread(self._answer, question, passages)
