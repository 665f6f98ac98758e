"""The FastAPI application: /ask, /search, /documents, /healthz, /readyz, /metrics."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from verbatim.ingest.index.lock import IngestBusy
from verbatim.ingest.index.store import IndexUnavailable
from verbatim.ingest.reader import PathOutsideRoot
from verbatim.service import telemetry as metrics
from verbatim.service.api.observability import install_observability
from verbatim.service.api.openai_api import router as openai_router
from verbatim.service.api.security import install_security
from verbatim.service.api.sse import ask_stream_response, wants_event_stream
from verbatim.service.qa.answering import Answering, record
from verbatim.service.qa.engine import BadRequest, Engine, NotReady
from verbatim.service.qa.schemas import (
    AskRequest,
    AskResponse,
    DocumentList,
    DocumentResponse,
    IngestRequest,
    Readiness,
    SearchRequest,
    SearchResponse,
)
from verbatim.service.web import PageLinks, docs_router
from verbatim.service.web import router as web_router
from verbatim.settings import Settings, get_settings

log = logging.getLogger("verbatim.api")


JSON_ROUTES = frozenset({"/ask", "/search", "/admin/ingest", "/v1/chat/completions"})


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            kind = value.decode("latin-1").split(";")[0].strip().lower()
            return kind == "application/json" or kind.endswith("+json")
    return False


class LoadShedder:
    """Refuse non-JSON bodies on JSON routes (415) and, past `limit` requests in flight, answer 503 with
    Retry-After instead of queueing without bound."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ("/healthz", "/metrics"):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST" and scope["path"] in JSON_ROUTES and not _is_json(scope):
            response = JSONResponse(
                {"detail": "expected a JSON body (content-type: application/json)"}, status_code=415
            )
            await response(scope, receive, send)
            return
        if self.inflight >= self.limit:
            metrics.SHED.inc()
            response = JSONResponse(
                {"detail": "server at capacity; retry shortly"}, status_code=503, headers={"Retry-After": "1"}
            )
            await response(scope, receive, send)
            return
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed JSON body: " + "; ".join(str(e.get("msg")) for e in errors)
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return 422, "; ".join(parts)


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, *, start: bool = True
) -> FastAPI:
    """Build the app; on start it loads the index in the background (ingesting seeds on an empty index)."""
    settings = settings or get_settings()
    engine = engine or Engine(settings)
    answering = Answering(settings, engine)  # model backends, quote verification, fallback (docs/llm.md)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start:
            engine.start_in_background()
        yield
        engine.stop()
        await answering.aclose()

    app = FastAPI(
        title="Verbatim",
        version="0.1.0",
        lifespan=lifespan,
        description="Answers with verbatim quotes and exact citations into the source files.",
        docs_url=None,  # /docs and /redoc come from docs_router, with local assets (offline)
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.answering = answering
    app.state.settings = settings

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = _validation_message(exc)
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(BadRequest)
    async def on_bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(NotReady)
    async def on_not_ready(_: Request, exc: NotReady) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(IndexUnavailable)
    async def on_unavailable(_: Request, exc: IndexUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})

    @app.post(
        "/ask",
        response_model=AskResponse,
        tags=["answers"],
        responses={200: {"content": {"text/event-stream": {}}}, 400: {}, 415: {}, 422: {}, 503: {}},
    )
    async def ask(body: AskRequest, request: Request) -> Any:
        """Answer a question with verbatim quotes, or abstain when the documents do not say.

        `"stream": true` (or `Accept: text/event-stream`): server-sent events `delta` then `final`."""
        choice = answering.resolve(body.backend)
        if body.stream or wants_event_stream(request):
            return ask_stream_response(answering, await answering.prepare(body), choice)
        if choice == "extractive":
            response = await run_in_threadpool(engine.ask, body)
        else:
            response = await answering.ask(body, choice)
        record(response)
        return response

    @app.post(
        "/search",
        response_model=SearchResponse,
        tags=["answers"],
        responses={400: {}, 415: {}, 422: {}, 503: {}},
    )
    def search(body: SearchRequest) -> SearchResponse:
        """The passages hybrid retrieval finds for a query."""
        return engine.search(body)

    @app.get("/documents", response_model=DocumentList, tags=["documents"])
    def documents() -> DocumentList:
        """Every indexed document and its articles."""
        return engine.documents()

    @app.get(
        "/documents/{source:path}",
        response_model=DocumentResponse,
        tags=["documents"],
        responses={404: {}, 422: {}},
    )
    def document(
        source: str,
        start: int | None = Query(default=None, ge=0),
        end: int | None = Query(default=None, ge=0),
    ) -> DocumentResponse:
        """A document's raw text and articles; with start/end also that span (to open a citation)."""
        return engine.document(source, start, end)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=Readiness, tags=["ops"], responses={503: {}})
    def readyz() -> Any:
        """Ready when the index is reachable and loaded; 503 otherwise (with the reason)."""
        try:
            engine.store.ping()
            snap = engine.snapshot()
        except (IndexUnavailable, NotReady) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})
        metrics.observe_snapshot(snap)
        return Readiness(
            status="ready", chunks=snap.chunk_count, index_version=snap.version, documents=len(snap.documents)
        )

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def prometheus() -> Response:
        """Prometheus text format."""
        snap = engine.snapshots.current
        if snap is not None:
            metrics.observe_snapshot(snap)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/ingest", tags=["ops"], responses={400: {}, 409: {}, 415: {}, 422: {}, 503: {}})
    async def admin_ingest(body: IngestRequest) -> dict[str, Any]:
        """Ingest through the running server (the CLI hands work here so one process owns the store)."""
        paths = [_inside_corpus(settings.corpus_dir, p) for p in body.paths] if body.paths else None
        try:
            report = await run_in_threadpool(engine.ingest, paths, dry_run=body.dry_run)
        except IngestBusy as exc:
            raise BadRequest(str(exc), 409) from exc
        except (PathOutsideRoot, FileNotFoundError) as exc:
            raise BadRequest(str(exc), 422) from exc
        except OSError as exc:  # a read-only or full data dir: say so, never a 500
            raise BadRequest(
                f"cannot write the index: {exc.strerror or exc} ({exc.filename or ''})", 503
            ) from exc
        return report.__dict__

    app.include_router(openai_router)  # POST /v1/chat/completions, GET /v1/models
    app.include_router(web_router)  # GET / (the page) and /ui/ assets
    app.include_router(docs_router)  # GET /docs, /redoc and their /ui/vendor/ assets
    return _wrap(app, settings)


def _inside_corpus(root: Path, raw: str) -> Path:
    try:  # a NUL byte or an unencodable character is no file name: 422, not a crash deeper down
        if "\x00" in raw:
            raise ValueError("contains a NUL byte")
        os.fsencode(raw)
    except (ValueError, UnicodeError) as exc:
        raise BadRequest(f"invalid path {raw[:100]!r}: {exc}", 422) from exc
    path = Path(raw)
    return path if path.is_absolute() else root / path


def _wrap(app: FastAPI, settings: Settings) -> FastAPI:
    app.add_middleware(LoadShedder, limit=settings.max_inflight)
    install_security(app, settings)  # auth, rate limit, body size, CORS: outside the load shedder
    app.add_middleware(PageLinks)  # a browser opening /documents/... goes to the page, before any 401
    install_observability(app, settings)  # request id, JSON access log, metrics of refused requests
    return app
