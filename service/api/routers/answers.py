"""POST /ask and POST /search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from verbatim.service.api.deps import AnsweringDep, EngineDep
from verbatim.service.api.sse import ask_stream_response, wants_event_stream
from verbatim.service.qa.answering import record
from verbatim.service.qa.schemas import AskRequest, AskResponse, SearchRequest, SearchResponse

router = APIRouter(tags=["answers"])


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 400: {}, 415: {}, 422: {}, 503: {}},
)
async def ask(body: AskRequest, request: Request, answering: AnsweringDep) -> Any:
    """Answer a question with verbatim quotes, or abstain when the documents do not say.

    `"stream": true` (or `Accept: text/event-stream`): server-sent events `delta` then `final`."""
    choice = answering.resolve(body.backend)
    if body.stream or wants_event_stream(request):
        return ask_stream_response(answering, await answering.prepare(body), choice)
    if choice == "extractive":  # one thread-pool hop for the whole answer (no model call to await)
        response = await run_in_threadpool(answering.answer, body)
    else:
        response = await answering.ask(body, choice)
    record(response)
    return response


@router.post("/search", response_model=SearchResponse, responses={400: {}, 415: {}, 422: {}, 503: {}})
def search(body: SearchRequest, engine: EngineDep) -> SearchResponse:
    """The passages hybrid retrieval finds for a query."""
    return engine.search(body)
