"""Answering with a model backend: retrieve, ask the model within a deadline, verify its quotes, and fall
back to the extractive answer whenever the model is down, slow, wrong or unverifiable.

Every path ends in an AskResponse whose citations obey the offset invariant: the model's words reach the
user only through `service.verify`, and a failure of any kind becomes the extractive answer plus a
`warning`, never a 500 and never a wait past `llm_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from fastapi.concurrency import run_in_threadpool

from verbatim.service import telemetry as metrics
from verbatim.service.qa.backends import (
    AnswerBackend,
    BackendError,
    BackendRegistry,
    NumberedPassage,
    llm_backend_name,
    stream_of,
)
from verbatim.service.qa.engine import BadRequest, Engine, Retrieved, cite_pages, passage_of
from verbatim.service.qa.extractive import ABSTAIN_TEXT
from verbatim.service.qa.schemas import AskRequest, AskResponse, Passage
from verbatim.service.qa.verify import QuoteVerifier, stable_prefix
from verbatim.settings import Settings

log = logging.getLogger("verbatim.answering")

BackendChoice = Literal["extractive", "llm"]


@dataclass
class Prepared:
    """A question with its retrieval done (so request errors surface before any streaming starts)."""

    request: AskRequest
    found: Retrieved
    passages: list[Passage]
    retrieve_s: float

    @property
    def numbered(self) -> list[NumberedPassage]:
        return [
            NumberedPassage(
                n=i, title=p.title, source=p.source, text=p.text, chunk_id=p.chunk_id, score=p.score
            )
            for i, p in enumerate(self.passages, start=1)
        ]


@dataclass(frozen=True)
class Delta:
    """A piece of verified answer text, in order (a streamed answer is the concatenation)."""

    text: str


def record(response: AskResponse) -> None:
    """Per-answer metrics, for every path that produces an AskResponse."""
    if response.abstained:
        metrics.ABSTENTIONS.inc()
    for stage in ("retrieve", "answer"):
        metrics.STAGE.labels(stage).observe(response.timings_ms.get(stage, 0.0) / 1000)


class Answering:
    """Chooses the backend for a request and runs it with verification, deadline and fallback."""

    def __init__(self, settings: Settings, engine: Engine, registry: BackendRegistry | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry or BackendRegistry(settings, engine)

    @property
    def timeout(self) -> float:
        return max(0.1, float(self.settings.llm_timeout))

    def resolve(self, requested: str | None) -> BackendChoice:
        """The backend to use: default `llm` when a model is configured; `llm` without one is a 422."""
        configured = self.registry.llm_configured()
        if requested is None:
            return "llm" if configured else "extractive"
        if requested == "llm" and not configured:
            raise BadRequest(
                "backend 'llm' was requested but no model is configured: set VERBATIM_LLM_URL "
                "(and VERBATIM_LLM_MODEL) to an OpenAI-compatible server, or ask with "
                "backend 'extractive' (see docs/llm.md)",
                422,
            )
        return "llm" if requested == "llm" else "extractive"

    def backend(self) -> AnswerBackend:
        return self.registry.get(llm_backend_name(self.settings))

    async def aclose(self) -> None:
        await self.registry.aclose()

    # -- stages -----------------------------------------------------------------------------------
    async def prepare(self, request: AskRequest) -> Prepared:
        """Retrieval in the thread pool (embedding is CPU work); raises BadRequest / NotReady as usual."""
        t0 = time.perf_counter()
        found = await run_in_threadpool(
            self.engine.retrieve, request.question, request.top_k, request.sources
        )
        return Prepared(request, found, [passage_of(h) for h in found.hits], time.perf_counter() - t0)

    async def extractive(self, prepared: Prepared) -> AskResponse:
        return await run_in_threadpool(
            self.engine.answer_extractive,
            prepared.found,
            prepared.retrieve_s,
        )

    async def fallback(
        self, prepared: Prepared, reason: str, detail: str, dropped: int | None = None
    ) -> AskResponse:
        """The extractive answer, labelled as such, with a warning saying why the model's was not used."""
        metrics.FALLBACKS.labels(reason).inc()
        log.warning("model answer replaced by the extractive one (%s): %s", reason, detail)
        response = await self.extractive(prepared)
        response.warning = f"{detail}; showing the extractive answer instead"
        response.dropped_quotes = dropped
        return response

    async def finish(
        self, prepared: Prepared, text: str, model_s: float, verifier: QuoteVerifier | None = None
    ) -> AskResponse:
        """Verify the model's text; keep it if at least one quote survives (or it plainly abstains)."""
        t0 = time.perf_counter()
        verification = (verifier or QuoteVerifier(prepared.passages)).verify(text)
        if verification.dropped:
            metrics.DROPPED_QUOTES.inc(verification.dropped)
        if not verification.quotes and not verification.abstained:
            if verification.dropped:
                detail = f"none of the model's {verification.dropped} quote(s) could be found in the sources"
            else:
                detail = "the model's answer quoted nothing from the sources"
            return await self.fallback(prepared, "unverified", detail, verification.dropped)
        citations = verification.citations(prepared.passages)
        cite_pages(prepared.found.snapshot, citations)
        verify_s = time.perf_counter() - t0
        answer_s = model_s + verify_s
        return AskResponse(
            answer=ABSTAIN_TEXT if verification.abstained else verification.text,
            abstained=verification.abstained,
            backend="llm",
            citations=citations,
            passages=prepared.passages,
            dropped_quotes=verification.dropped,
            timings_ms={
                "retrieve": round(prepared.retrieve_s * 1000, 2),
                "answer": round(answer_s * 1000, 2),
                "model": round(model_s * 1000, 2),
                "verify": round(verify_s * 1000, 2),
                "total": round((prepared.retrieve_s + answer_s) * 1000, 2),
            },
        )

    def failure(self, exc: Exception) -> tuple[str, str]:
        """(metric reason, user-facing detail) for whatever stopped the model from answering."""
        if isinstance(exc, TimeoutError) or getattr(exc, "reason", None) == "timeout":
            return "timeout", f"the model did not answer within {self.timeout:g} s"
        if isinstance(exc, BackendError):
            return exc.reason, f"the model backend failed ({exc})"
        log.error("model backend raised %s", exc.__class__.__name__, exc_info=exc)
        return "error", f"the model backend failed ({exc.__class__.__name__})"

    # -- whole answers ----------------------------------------------------------------------------
    def answer(self, request: AskRequest) -> AskResponse:
        """The one front door for callers without an event loop (CLI, tests, benchmarks): the same path
        as `POST /ask`, backend chosen as the API chooses it."""
        choice = self.resolve(request.backend)
        if choice == "extractive":  # no model call: no event loop needed
            t0 = time.perf_counter()
            found = self.engine.retrieve(request.question, request.top_k, request.sources)
            return self.engine.answer_extractive(found, retrieve_s=time.perf_counter() - t0)
        return asyncio.run(self.ask(request, choice))

    async def ask(self, request: AskRequest, choice: BackendChoice) -> AskResponse:
        prepared = await self.prepare(request)
        if choice == "extractive" or not prepared.passages:
            return await self.extractive(prepared)
        return await self.ask_model(prepared)

    async def ask_model(self, prepared: Prepared) -> AskResponse:
        t0 = time.perf_counter()
        try:
            backend = self.backend()
            async with asyncio.timeout(self.timeout):
                answer = await backend.answer(prepared.request.question, prepared.numbered)
            text = answer.text if isinstance(answer.text, str) else ""
        except Exception as exc:  # a buggy plugin is a failed backend too, not a 500
            return await self.fallback(prepared, *self.failure(exc))
        if not text.strip():
            return await self.fallback(prepared, "empty", "the model returned an empty answer")
        return await self.finish(prepared, text, time.perf_counter() - t0)

    # -- streaming --------------------------------------------------------------------------------
    async def events(self, prepared: Prepared, choice: BackendChoice) -> AsyncIterator[Delta | AskResponse]:
        """Verified text deltas as the model writes, then the final AskResponse (always last).

        Text is shown only once it is stable: a quote appears after it has been closed, cited and
        verified. If the model fails midway, the final response is the extractive fallback and replaces
        what was streamed — `final.answer` is always the whole, authoritative answer.
        """
        if choice == "extractive" or not prepared.passages:
            response = await self.extractive(prepared)
            yield Delta(response.answer)
            yield response
            return
        verifier = QuoteVerifier(prepared.passages)
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        t0 = time.perf_counter()

        async def produce() -> None:
            try:
                backend = self.backend()
                async for piece in stream_of(backend, prepared.request.question, prepared.numbered):
                    await queue.put(("delta", piece if isinstance(piece, str) else ""))
                await queue.put(("end", None))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await queue.put(("error", exc))

        producer = asyncio.create_task(produce())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        raw, sent, checked = "", "", 0
        final: AskResponse
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                kind, value = await asyncio.wait_for(queue.get(), remaining)
                if kind == "end":
                    break
                if kind == "error":
                    raise value  # type: ignore[misc]
                raw += str(value)
                cut = stable_prefix(raw)
                if cut <= checked:
                    continue
                checked = cut
                shown = verifier.verify(raw[:cut]).text
                if len(shown) > len(sent) and shown.startswith(sent):
                    yield Delta(shown[len(sent) :])
                    sent = shown
        except Exception as exc:
            final = await self.fallback(prepared, *self.failure(exc))
        else:
            if raw.strip():
                final = await self.finish(prepared, raw, time.perf_counter() - t0, verifier)
            else:
                final = await self.fallback(prepared, "empty", "the model returned an empty answer")
        finally:
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer
        if final.backend == "llm" and len(final.answer) > len(sent) and final.answer.startswith(sent):
            yield Delta(final.answer[len(sent) :])
        yield final
