"""The bot's HTTP client for the Verbatim API.

The bot runs as its own process and only ever talks to the API over HTTP, so the two scale and
fail independently. Every failure mode is turned into `ApiError` with a message fit for a chat
user; the caller never has to know about httpx.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from verbatim.settings import Settings

log = logging.getLogger("verbatim.bot.api")

MAX_QUESTION_CHARS = 2000
MAX_503_WAIT = 5.0

UNAVAILABLE = "Sorry, I couldn't reach the document index just now. Please try again in a minute."
SLOW = "Sorry, the document index is taking too long to answer right now. Please try again in a minute."


class ApiError(Exception):
    """The API could not answer; `user_message` is safe to show in chat."""

    def __init__(self, user_message: str, *, kind: str, status: int | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.kind = kind
        self.status = status


class VerbatimClient:
    """Async client for `POST /ask`, with a bounded timeout and the first configured API key."""

    def __init__(
        self, settings: Settings, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        keys = settings.api_key_list()
        headers = {"Accept": "application/json", "User-Agent": "verbatim-bot"}
        if keys:
            headers["Authorization"] = f"Bearer {keys[0]}"
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=settings.api_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            # The bot must never be redirected somewhere that would receive its API key.
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        """Release pooled connections (called at shutdown)."""
        await self._client.aclose()

    async def ask(self, question: str) -> dict[str, Any]:
        """Ask one question; returns the DESIGN.md `/ask` response or raises `ApiError`."""
        started = time.perf_counter()
        try:
            resp = await self._client.post("/ask", json={"question": question})
            retry_after = resp.headers.get("Retry-After", "").strip()
            # While the index loads the API answers 503 with a short Retry-After: wait once, then retry,
            # as long as that still fits in the time budget.
            if resp.status_code == 503 and retry_after.isdigit():
                wait = float(retry_after)
                if wait <= MAX_503_WAIT and time.perf_counter() - started + wait < self._timeout:
                    await asyncio.sleep(wait)
                    resp = await self._client.post("/ask", json={"question": question})
        except httpx.TimeoutException as exc:
            log.warning("Verbatim API timed out after %.1fs: %r", time.perf_counter() - started, exc)
            raise ApiError(SLOW, kind="timeout") from exc
        except httpx.HTTPError as exc:
            log.warning("Verbatim API unreachable: %r", exc)
            raise ApiError(UNAVAILABLE, kind="unreachable") from exc

        if resp.status_code == 429:
            retry = resp.headers.get("Retry-After", "").strip()
            when = f" in {retry} seconds" if retry.isdigit() else " shortly"
            log.warning("Verbatim API rate-limited the bot (Retry-After=%r)", retry)
            raise ApiError(
                f"Sorry, too many questions at once. Please try again{when}.", kind="rate_limited", status=429
            )
        if resp.status_code in (401, 403):
            log.error("Verbatim API rejected the bot's key (%s); check VERBATIM_API_KEYS", resp.status_code)
            raise ApiError(UNAVAILABLE, kind="unauthorized", status=resp.status_code)
        if 400 <= resp.status_code < 500:
            detail = _detail(resp)
            log.warning("Verbatim API refused the question (%s): %s", resp.status_code, detail)
            message = f"Sorry, I couldn't ask that: {detail}"
            raise ApiError(message, kind="bad_request", status=resp.status_code)
        if resp.status_code >= 300:
            log.warning("Verbatim API failed with %s: %s", resp.status_code, resp.text[:500])
            raise ApiError(UNAVAILABLE, kind="server_error", status=resp.status_code)
        try:
            data = resp.json()
        except ValueError as exc:
            log.warning("Verbatim API returned non-JSON: %r", resp.text[:200])
            raise ApiError(UNAVAILABLE, kind="bad_response", status=resp.status_code) from exc
        if not isinstance(data, dict) or not isinstance(data.get("answer"), str):
            log.warning("Verbatim API returned an unexpected shape: %r", str(data)[:200])
            raise ApiError(UNAVAILABLE, kind="bad_response", status=resp.status_code)
        return data


def _detail(resp: httpx.Response) -> str:
    """The API's `{"detail": ...}` message, flattened to one short line."""
    try:
        detail: Any = resp.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    text = str(detail or resp.reason_phrase or f"HTTP {resp.status_code}")
    return text[:300]
