"""Verbatim as an OpenAI-compatible model: `POST /v1/chat/completions` and `GET /v1/models`.

Chat front ends and the official `openai` client can talk to Verbatim directly. The last user message is
the question (earlier turns are ignored: every answer stands on its own quotes). The reply's message text
holds the answer with “quote” [n] markers and a "Sources:" list; the extra top-level field `citations`
holds the same citations as `/ask` (offsets into the source files), and `verbatim` the backend, warning and
dropped-quote count. Extra request fields `top_k` and `sources` (the openai client's `extra_body`) are
honoured. Model ids: `verbatim` (the default backend), `verbatim-extractive`, `verbatim-llm`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verbatim.service.api.sse import SSE_HEADERS, sse
from verbatim.service.qa.answering import Answering, BackendChoice, Delta, record
from verbatim.service.qa.errors import InvalidRequest
from verbatim.service.qa.schemas import AskRequest, AskResponse

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

MODEL_ID = "verbatim"
MODEL_BACKENDS: dict[str, Literal["extractive", "llm"] | None] = {
    MODEL_ID: None,
    f"{MODEL_ID}-extractive": "extractive",
    f"{MODEL_ID}-llm": "llm",
}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The subset of the chat-completions request Verbatim uses; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    top_k: int | None = Field(default=None, ge=1, le=20)
    sources: list[str] | None = None


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "\n".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def _ask_request(body: ChatRequest) -> AskRequest:
    question = next((_text(m) for m in reversed(body.messages) if m.role == "user"), "")
    if not question.strip():
        raise InvalidRequest("messages: the last user message must contain the question as text")
    try:
        return AskRequest(
            question=question,
            top_k=body.top_k or 5,
            sources=body.sources,
            backend=MODEL_BACKENDS.get(body.model),
        )
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise InvalidRequest(detail.replace("Value error, ", "")) from exc


def sources_note(response: AskResponse) -> str:
    """The citations as text under the answer, so plain chat front ends show them too."""
    lines = [f"[{c.n}] {c.title} — {c.source}, characters {c.start}–{c.end}" for c in response.citations]
    note = "\n\nSources:\n" + "\n".join(lines) if lines else ""
    if response.warning:
        note += f"\n\n(Note: {response.warning}.)"
    return note


def _extras(response: AskResponse) -> dict[str, Any]:
    return {
        "citations": [c.model_dump(mode="json") for c in response.citations],
        "verbatim": {
            "backend": response.backend,
            "abstained": response.abstained,
            "warning": response.warning,
            "dropped_quotes": response.dropped_quotes,
            "timings_ms": response.timings_ms,
        },
    }


def completion(response: AskResponse) -> dict[str, Any]:
    """A `chat.completion` object carrying the answer, its sources and the extra `citations` field."""
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": response.answer + sources_note(response)},
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        **_extras(response),
    }


async def completion_chunks(
    answering: Answering, request: AskRequest, choice: BackendChoice
) -> AsyncIterator[bytes]:
    """`chat.completion.chunk` events: the role, verified text deltas, the sources, then [DONE]."""
    prepared = await answering.prepare(request)
    head = {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL_ID,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return sse(
            None,
            {
                **head,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                **extra,
            },
        )

    yield chunk({"role": "assistant", "content": ""})
    sent = ""
    async for item in answering.events(prepared, choice):
        if isinstance(item, Delta):
            sent += item.text
            yield chunk({"content": item.text})
            continue
        record(item)
        if not item.answer.startswith(sent):  # the model failed midway: what follows replaces it
            yield chunk({"content": f"\n\n(The model's answer was interrupted.)\n\n{item.answer}"})
        elif len(item.answer) > len(sent):
            yield chunk({"content": item.answer[len(sent) :]})
        yield chunk({"content": sources_note(item)})
        yield chunk({}, "stop", **_extras(item))
    yield sse(None, "[DONE]")


@router.get("/models")
def models(request: Request) -> dict[str, Any]:
    """The model ids Verbatim answers to (`verbatim` uses the default backend)."""
    answering: Answering = request.app.state.answering
    ids = [MODEL_ID, f"{MODEL_ID}-extractive"]
    if answering.registry.llm_configured():
        ids.append(f"{MODEL_ID}-llm")
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "created": 0, "owned_by": "verbatim"} for i in ids],
    }


@router.post(
    "/chat/completions",
    responses={200: {"content": {"text/event-stream": {}}}, 400: {}, 415: {}, 422: {}, 503: {}},
)
async def chat_completions(body: ChatRequest, request: Request) -> Any:
    """Answer the last user message, with verified quotes; `"stream": true` for chunked SSE."""
    answering: Answering = request.app.state.answering
    ask = _ask_request(body)
    choice = answering.resolve(ask.backend)
    if body.stream:
        chunks = completion_chunks(answering, ask, choice)
        first = await anext(chunks)  # retrieval errors become plain JSON errors, before the stream starts
        return StreamingResponse(_prepend(first, chunks), media_type="text/event-stream", headers=SSE_HEADERS)
    response = await answering.ask(ask, choice)
    record(response)
    return completion(response)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for item in rest:
        yield item
