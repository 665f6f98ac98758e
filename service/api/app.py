"""The FastAPI application: one application object (engine, answering, jobs, settings on `app.state`)
and a router per feature; middlewares for security, observability and load shedding around it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from verbatim.service.api.errors import install_error_handlers
from verbatim.service.api.jobs import Jobs
from verbatim.service.api.observability import install_observability
from verbatim.service.api.openai_api import router as openai_router
from verbatim.service.api.routers import admin, answers, documents, ops
from verbatim.service.api.security import install_security
from verbatim.service.api.shedding import LoadShedder
from verbatim.service.qa.answering import Answering
from verbatim.service.qa.engine import Engine
from verbatim.service.web import PageLinks, docs_router
from verbatim.service.web import router as web_router
from verbatim.settings import Settings, get_settings

log = logging.getLogger("verbatim.api")


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, *, start: bool = True
) -> FastAPI:
    """Build the app; on start it loads the index in the background (ingesting seeds on an empty index)."""
    settings = settings or get_settings()
    engine = engine or Engine(settings)
    answering = Answering(settings, engine)  # model backends, quote verification, fallback (docs/llm.md)
    jobs = Jobs(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start:
            engine.start_in_background()
        yield
        jobs.close()
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
    app.state.jobs = jobs
    install_error_handlers(app)
    app.include_router(answers.router)  # POST /ask, /search
    app.include_router(documents.router)  # GET/POST/DELETE /documents
    app.include_router(ops.router)  # /healthz, /readyz, /metrics
    app.include_router(admin.router)  # POST /admin/ingest, GET /jobs/{id}
    app.include_router(openai_router)  # POST /v1/chat/completions, GET /v1/models
    app.include_router(web_router)  # GET / (the page) and /ui/ assets
    app.include_router(docs_router)  # GET /docs, /redoc and their /ui/vendor/ assets
    app.add_middleware(LoadShedder, limit=settings.max_inflight)
    install_security(app, settings)  # auth, rate limit, body size, CORS: outside the load shedder
    app.add_middleware(PageLinks)  # a browser opening /documents/... goes to the page, before any 401
    install_observability(app, settings)  # request id, JSON access log, metrics of refused requests
    return app
