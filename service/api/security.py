"""Optional bearer-token auth, per-client rate limiting, request body limits and CORS (pure ASGI).

Order (outermost first): CORS → auth → rate limit → body limit → the app. Everything is in memory
per process: with several API processes each one enforces the rate limit on its own share of traffic.
"""

from __future__ import annotations

import hmac
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verbatim.settings import Settings

# Paths anyone may fetch even when API keys are set: liveness, the web page and its assets, the API docs.
OPEN_PATHS = frozenset(
    {"/", "/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/favicon.ico"}
)
OPEN_PREFIXES = ("/ui/",)
# Probes and scrapes are never rate limited (a load balancer polling /readyz must not lock itself out).
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Per-request facts go in the ASGI scope under our own keys (scope["state"] may be shared lifespan state).
CLIENT_KEY = "verbatim.client"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATHS = frozenset({"/documents"})
UPLOAD_MAX_FILES = 100  # files per upload request (the multipart parser refuses more)
_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+?)s?\s*$")


def is_open(path: str) -> bool:
    """True for paths that never need an API key."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def client_id(scope: Scope) -> str:
    """Who is calling: the API key's label when authenticated, else the client address."""
    if scope.get(CLIENT_KEY):
        return str(scope[CLIENT_KEY])
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


async def _reject(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)


# -- auth ---------------------------------------------------------------------------------------------
class BearerAuth:
    """401 unless `Authorization: Bearer <key>` names a configured key (constant-time comparison)."""

    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]

    def match(self, header: str | None) -> int | None:
        """Index of the key the header carries, or None; every key is compared, whatever matches."""
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        given = token.strip().encode()
        found = None
        for i, key in enumerate(self.keys):
            if hmac.compare_digest(given, key) and found is None:
                found = i
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        index = self.match(header)
        if index is None:
            if header:
                detail, challenge = "invalid API key", 'Bearer realm="verbatim", error="invalid_token"'
            else:
                detail, challenge = (
                    "missing API key: send 'Authorization: Bearer <key>'",
                    'Bearer realm="verbatim"',
                )
            await _reject(scope, receive, send, 401, detail, {"WWW-Authenticate": challenge})
            return
        scope[CLIENT_KEY] = f"key#{index + 1}"
        await self.app(scope, receive, send)


# -- rate limiting ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """`requests` per `seconds`, parsed from text such as `100/minute`, `5/second`, `1000/hour`."""

    requests: int
    seconds: float
    text: str

    @classmethod
    def parse(cls, text: str) -> Rate:
        m = _RATE.match(text.lower())
        if not m or m.group(3) not in _UNITS or int(m.group(1)) < 1:
            raise ValueError(
                f"VERBATIM_RATE_LIMIT must look like '100/minute' (units: second, minute, hour, "
                f"day), got {text!r}"
            )
        return cls(int(m.group(1)), float(m.group(2) or 1) * _UNITS[m.group(3)], text.strip())


class TokenBucket:
    """One bucket per client holding up to `rate.requests` tokens, refilled continuously.

    A burst of the full allowance is accepted, then requests are spaced at the average rate. Idle
    clients are forgotten (least recently used first) past `max_clients`, so memory stays bounded.
    """

    def __init__(
        self, rate: Rate, clock: Callable[[], float] = time.monotonic, max_clients: int = 50_000
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.max_clients = max_clients
        self.per_second = rate.requests / rate.seconds
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until a token is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (float(self.rate.requests), now))
            tokens = min(float(self.rate.requests), tokens + (now - last) * self.per_second)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.per_second
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait


class RateLimit:
    """429 with `Retry-After` once a client (API key, or address when keys are off) is over the rate."""

    def __init__(self, app: ASGIApp, bucket: TokenBucket) -> None:
        self.app = app
        self.bucket = bucket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self.bucket.take(client_id(scope))
        if wait > 0:
            retry = max(1, math.ceil(wait))
            await _reject(
                scope,
                receive,
                send,
                429,
                f"rate limit exceeded ({self.bucket.rate.text}); retry in {retry} s",
                {"Retry-After": str(retry)},
            )
            return
        await self.app(scope, receive, send)


# -- body size --------------------------------------------------------------------------------------
class BodyLimit:
    """413 for request bodies over `limit` bytes, declared (Content-Length) or streamed (chunked).

    Uploads (`POST /documents`) pass unbuffered: their route streams the body to disk and enforces the
    per-file limit (VERBATIM_MAX_UPLOAD_BYTES) itself, and only bounds the whole body here."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if self.upload_limit is not None and scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS:
            declared = Headers(scope=scope).get("content-length")
            if declared is not None and declared.strip().isdigit() and int(declared) > self.upload_limit:
                await self._too_large(scope, receive, send, self.upload_limit, "VERBATIM_MAX_UPLOAD_BYTES")
                return
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _reject(scope, receive, send, 400, "invalid Content-Length header")
                return
            if int(declared) > self.limit:
                await self._too_large(scope, receive, send, self.limit)
                return
        # Bodies are small: read the whole body (stopping past the limit), then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(scope, receive, send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, limit: int, setting: str = "VERBATIM_MAX_BODY_BYTES"
    ) -> None:
        await _reject(
            scope,
            receive,
            send,
            413,
            f"request body too large (limit {limit} bytes, {setting})",
            {"Connection": "close"},
        )


# -- wiring -----------------------------------------------------------------------------------------
def cors_origins(settings: Settings) -> list[str]:
    """Allowed browser origins; empty = CORS off (same-origin only)."""
    return [o.strip().rstrip("/") for o in (settings.cors_origins or "").split(",") if o.strip()]


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the security middlewares the settings ask for, and describe them in the OpenAPI schema."""
    keys = settings.accepted_key_list()
    rate = Rate.parse(settings.rate_limit) if settings.rate_limit else None
    origins = cors_origins(settings)
    # add_middleware puts each one outside the previous: add innermost first.
    # A whole upload body: up to UPLOAD_MAX_FILES files at the per-file limit, plus the form's framing.
    upload_body = settings.max_upload_bytes * UPLOAD_MAX_FILES + settings.max_body_bytes
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, upload_limit=upload_body)
    if rate is not None:
        app.add_middleware(RateLimit, bucket=TokenBucket(rate))
    if keys:
        app.add_middleware(BearerAuth, keys=keys)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            allow_credentials=False,
            max_age=600,
        )
    _document(app, auth=bool(keys), limited=rate is not None, body_limit=settings.max_body_bytes)


def _document(app: FastAPI, *, auth: bool, limited: bool, body_limit: int) -> None:
    """Add 401/413/429 and the bearer scheme to the OpenAPI schema, so clients and /docs know them."""
    original = app.openapi
    error = {
        "application/json": {
            "schema": {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
        }
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        if auth:
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "one of VERBATIM_API_KEYS",
            }
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                if auth and not is_open(path):
                    operation["security"] = [{"bearer": []}]
                    responses.setdefault(
                        "401", {"description": "missing or invalid API key", "content": error}
                    )
                if limited and path not in UNLIMITED_PATHS:
                    responses.setdefault(
                        "429", {"description": "rate limit exceeded (see Retry-After)", "content": error}
                    )
                if "requestBody" in operation:
                    responses.setdefault(
                        "413", {"description": f"body over {body_limit} bytes", "content": error}
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
