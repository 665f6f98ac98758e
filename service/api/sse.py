"""Server-sent events for `/ask`: `event: delta` {"text": …} pieces, then `event: final` = the AskResponse.

Deltas are verified text as it becomes stable; `final` carries the whole answer with its citations and
is authoritative (after a mid-stream model failure it is the extractive fallback, not the deltas' sum).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from verbatim.service.qa.answering import Answering, BackendChoice, Delta, Prepared, record

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def wants_event_stream(request: Request) -> bool:
    """The client asked for SSE with its Accept header (EventSource does)."""
    return "text/event-stream" in request.headers.get("accept", "").lower()


def sse(event: str | None, data: Any) -> bytes:
    """One event; data is JSON on one line (json.dumps never emits a raw newline)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


async def ask_events(answering: Answering, prepared: Prepared, choice: BackendChoice) -> AsyncIterator[bytes]:
    async for item in answering.events(prepared, choice):
        if isinstance(item, Delta):
            yield sse("delta", {"text": item.text})
        else:
            record(item)
            yield sse("final", item.model_dump(mode="json"))


def ask_stream_response(answering: Answering, prepared: Prepared, choice: BackendChoice) -> StreamingResponse:
    """The `/ask` answer as an SSE response (retrieval already done, so errors were plain JSON)."""
    return StreamingResponse(
        ask_events(answering, prepared, choice), media_type="text/event-stream", headers=SSE_HEADERS
    )
