"""Load shedding and the JSON-body check in front of the routes (pure ASGI)."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from verbatim.service import telemetry as metrics

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
