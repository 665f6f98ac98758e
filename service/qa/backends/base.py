"""The model-backend interface: answer a question from numbered passages, in the style of `llm` plugins.

A backend only writes text. It never sees offsets and is never trusted: whatever it returns goes through
`service.verify`, which keeps a quote only if it is found in a retrieved passage and maps it back to exact
offsets in the source file. So a backend can be a small local model, a remote API, or a test double.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class NumberedPassage:
    """A retrieved passage as a backend sees it: its number `n` (1-based, what citations refer to)."""

    n: int
    title: str
    source: str
    text: str
    chunk_id: str = ""
    score: float = 0.0


@dataclass(frozen=True)
class BackendAnswer:
    """What a backend wrote. `text` is authoritative: quotes are written in it as “…” [n].

    `quotes` optionally lists the (passage number, quote) pairs the backend meant to cite; the verifier
    parses `text` itself either way, so a backend may leave it empty.
    """

    text: str
    quotes: list[tuple[int, str]] = field(default_factory=list)


class BackendError(RuntimeError):
    """The backend could not answer (down, refused, garbage, empty); `reason` labels the fallback metric."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@runtime_checkable
class AnswerBackend(Protocol):
    """Write an answer to `question` from `passages`, citing them by number.

    Implement `name` and `answer`; implement `stream` too to let `/ask` stream text as it is written
    (yield text deltas; the concatenation must equal the full answer). Raise `BackendError` on failure.
    """

    name: str

    async def answer(self, question: str, passages: Sequence[NumberedPassage]) -> BackendAnswer: ...


@runtime_checkable
class StreamingBackend(AnswerBackend, Protocol):
    """A backend that can also stream its answer as text deltas."""

    def stream(self, question: str, passages: Sequence[NumberedPassage]) -> AsyncIterator[str]: ...


async def stream_of(
    backend: AnswerBackend, question: str, passages: Sequence[NumberedPassage]
) -> AsyncIterator[str]:
    """Deltas from a streaming backend, or the whole answer as one delta from one that cannot stream."""
    if isinstance(backend, StreamingBackend):
        async for delta in backend.stream(question, passages):
            yield delta
    else:
        yield (await backend.answer(question, passages)).text
