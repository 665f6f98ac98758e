"""Request ids, structured JSON logs without secrets, and per-route request metrics.

Every request gets an id (the client's `X-Request-ID` when it is sane, a new one otherwise); it is
returned in the response's `X-Request-ID` and attached to every log line written while serving it.
Request metrics are labelled by route template (`/documents/{source}`), never by the raw path.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verbatim.service import telemetry as metrics
from verbatim.service.api.security import CLIENT_KEY
from verbatim.settings import Settings

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("verbatim_request_id", default=None)
_CONVERTER = re.compile(r"\{(\w+):\w+\}")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_REDACTED = "[redacted]"
# Secret-looking things redacted even when they are not configured values (a key typed by a client...).
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1" + _REDACTED),
    (re.compile(r"\bxox[abeprs]-[A-Za-z0-9-]+"), _REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), _REDACTED),
    (
        re.compile(
            r"(?i)\b(api[_-]?keys?|token|secret|password|authorization)(\"?\s*[:=]\s*\"?)[^\s\"',;&]+"
        ),
        r"\1\2" + _REDACTED,
    ),
)
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
REQUEST_ID_KEY = "verbatim.request_id"  # scope keys of our own (scope["state"] may be shared)
access_log = logging.getLogger("verbatim.access")
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})  # probes: access lines at debug level


# -- secrets ----------------------------------------------------------------------------------------
def secret_values(settings: Settings) -> list[str]:
    """Every configured secret (each API key, the model key, Slack credentials), longest first."""
    values: set[str] = set(settings.api_key_list())
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            values.add(value.get_secret_value())
    return sorted((v for v in values if len(v) >= 3), key=len, reverse=True)


class Redactor:
    """Replaces configured secrets (raw and JSON-escaped) and secret-looking tokens in a line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        forms = set(self.secrets)
        for s in secrets:
            forms.update({s, json.dumps(s, ensure_ascii=False)[1:-1], json.dumps(s)[1:-1]})
        self.secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


# -- logging ----------------------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extra fields, exception."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in payload:
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(payload, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """Plain lines (VERBATIM_LOG_FORMAT=text), with the request id and the same redaction."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        return self.redact(f"{line} request_id={request_id}" if request_id else line)


class OwnLinesOnly(logging.Filter):
    """Verbatim's and the web server's lines, and every library's warnings and errors; not the
    informational chatter of libraries (the int8 quantiser's per-tensor notes, model-loading lines)."""

    OURS = ("verbatim", "uvicorn")

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        ours = any(name == o or name.startswith(o + ".") for o in self.OURS)
        return ours or record.levelno >= logging.WARNING


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.addFilter(OwnLinesOnly())

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(settings: Settings) -> logging.Handler:
    """Route the process's logs (ours and uvicorn's) through one redacting handler; idempotent."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        # Replace plain console handlers (logging.basicConfig) so lines are not written twice.
        for old in list(root.handlers):
            if type(old) is logging.StreamHandler and old.stream in (sys.stderr, sys.stdout):
                root.removeHandler(old)
        handler = StderrHandler()
        root.addHandler(handler)
    previous = getattr(handler.formatter, "redact", None)
    redact = previous if isinstance(previous, Redactor) else Redactor()
    redact.add(secret_values(settings))
    handler.setFormatter(JsonFormatter(redact) if settings.log_format == "json" else TextFormatter(redact))
    root.setLevel(getattr(logging, settings.log_level.upper(), logging.INFO))
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the access line below replaces it
    for name in ("httpx", "httpx2", "httpcore", "chromadb", "bm25s"):  # per-call chatter, URLs with tokens
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler


# -- requests ---------------------------------------------------------------------------------------
def route_template(scope: Scope) -> str:
    """The matched route's template (`/documents/{source}`); for requests refused before routing, the
    route they aimed at; `unmatched` otherwise. Never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path:
        path = _aimed_at(scope, getattr(scope.get("app"), "routes", ()))
    return _CONVERTER.sub(r"{\1}", str(path)) if path else "unmatched"


def _aimed_at(scope: Scope, routes: Any) -> str | None:
    """The template of the first route matching the request, looking into included routers (FastAPI
    keeps a router included without a prefix as one entry; its own routes are `original_router.routes`)."""
    for candidate in routes:
        inner = getattr(getattr(candidate, "original_router", None), "routes", None)
        if inner is not None and not getattr(candidate, "path", None):
            found = _aimed_at(scope, inner)
            if found:
                return found
            continue
        match, _ = candidate.matches(scope)
        if match != Match.NONE:
            return getattr(candidate, "path", None)
    return None


def request_id_of(headers: Headers) -> str:
    """The client's X-Request-ID if it is a sane token, else a fresh one."""
    given = headers.get("x-request-id", "")
    return given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


class RequestContext:
    """Outermost middleware: request id, one JSON access line per request, and the request metrics
    (count and latency by route template and status) of every request, refused ones included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Headers(scope=scope))
        scope[REQUEST_ID_KEY] = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            access_log.exception("unhandled error", extra={"path": scope["path"]})
            if response_started:
                raise
            status = 500
            await JSONResponse(
                {"detail": f"internal error (request id {request_id})"},
                status_code=500,
                headers={"X-Request-ID": request_id},
            )(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            metrics.REQUESTS.labels(scope["method"], route, str(status)).inc()
            metrics.LATENCY.labels(scope["method"], route).observe(elapsed)
            client = scope.get(CLIENT_KEY) or (scope["client"][0] if scope.get("client") else None)
            quiet = route in QUIET_ROUTES and status < 400
            access_log.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client,
                },
            )
            REQUEST_ID.reset(token)


def install_observability(app: FastAPI, settings: Settings) -> None:
    """JSON (or text) logs for the process and the request-context middleware, outermost."""
    configure_logging(settings)
    app.add_middleware(RequestContext)
