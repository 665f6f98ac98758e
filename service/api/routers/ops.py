"""GET /healthz, /readyz and /metrics: answer without a key, so probes and scrapers work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from verbatim.service import telemetry as metrics
from verbatim.service.api.deps import EngineDep
from verbatim.service.api.errors import error_response
from verbatim.service.qa.errors import IndexUnavailable, NotReady
from verbatim.service.qa.schemas import Readiness

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {}})
def readyz(engine: EngineDep) -> Any:
    """Ready when the index is reachable and loaded; 503 otherwise (with the reason)."""
    try:
        engine.store.ping()
        snap = engine.snapshot()
    except (IndexUnavailable, NotReady) as exc:
        response: JSONResponse = error_response(exc)
        return response
    metrics.observe_snapshot(snap)
    return Readiness(
        status="ready", chunks=snap.chunk_count, index_version=snap.version, documents=len(snap.documents)
    )


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(engine: EngineDep) -> Response:
    """Prometheus text format."""
    snap = engine.snapshots.current
    if snap is not None:
        metrics.observe_snapshot(snap)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
