"""A client for any OpenAI-compatible `/v1/chat/completions` server: Ollama, llama.cpp's server, vLLM,
LM Studio, OpenAI itself.

Async httpx, one connection pool per event loop; a semaphore bounds concurrent calls so a burst of
questions queues here instead of overloading a local model; 429 and 5xx are retried with exponential
backoff (honouring Retry-After) but only within the time budget — the caller also enforces an overall
deadline, so a slow server turns into a fallback, never a hang.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from verbatim.service.qa.backends.base import BackendAnswer, BackendError, NumberedPassage
from verbatim.service.qa.backends.prompt import build_messages
from verbatim.service.qa.verify import strip_reasoning
from verbatim.settings import Settings

log = logging.getLogger("verbatim.backends.openai")

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def chat_completions_url(base_url: str) -> str:
    """The endpoint for a base URL given with or without /v1 (or already naming the endpoint)."""
    base = base_url.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if re.search(r"/v\d+$", base):
        return f"{base}/chat/completions"
    return f"{base}/v1/chat/completions"


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _content(payload: Any) -> str:
    """choices[0].message.content of a chat completion, or BackendError('bad_response')."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise BackendError("bad_response", f"not a chat completion: {str(payload)[:200]}") from exc
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise BackendError("bad_response", "message content is not text")
    return content


def _delta(payload: Any) -> str:
    """choices[0].delta.content of a streamed chunk ('' for role-only or empty chunks)."""
    try:
        choices = payload["choices"]
        if not choices:
            return ""
        content = (choices[0].get("delta") or {}).get("content")
    except (KeyError, TypeError, AttributeError) as exc:
        raise BackendError("bad_response", f"not a chat completion chunk: {str(payload)[:200]}") from exc
    if content is None:
        return ""
    if not isinstance(content, str):
        raise BackendError("bad_response", "delta content is not text")
    return content


class OpenAICompatBackend:
    """Answers through a chat-completions server; see docs/llm.md for Ollama and llama.cpp set-ups."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_concurrency: int = 4,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_tokens: int = 512,
    ) -> None:
        self.url = chat_completions_url(base_url)
        self.model = model or "default"
        self.api_key = api_key
        self.timeout = timeout
        self.max_concurrency = max(1, max_concurrency)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_tokens = max_tokens
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatBackend:
        if not settings.llm_url:
            raise BackendError("unconfigured", "VERBATIM_LLM_URL is not set")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            settings.llm_url,
            settings.llm_model,
            key,
            timeout=settings.llm_timeout,
            max_concurrency=settings.llm_max_concurrency,
        )

    # -- plumbing ---------------------------------------------------------------------------------
    def _state(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The client and semaphore of the running loop (both are bound to the loop they were made on)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._slots is None:
            headers = {"Accept": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            timeout = httpx.Timeout(self.timeout, connect=min(5.0, self.timeout))
            self._client = httpx.AsyncClient(headers=headers, timeout=timeout, trust_env=False)
            self._slots = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop
        return self._client, self._slots

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None

    def _payload(self, question: str, passages: Sequence[NumberedPassage], stream: bool) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": build_messages(question, passages),
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "stream": stream,
        }

    async def _pause(self, attempt: int, response: httpx.Response | None, deadline: float) -> bool:
        """Sleep before the next attempt; False when there is no attempt left or no time for one."""
        if attempt >= self.max_retries:
            return False
        wait = retry_after_seconds(response.headers.get("retry-after")) if response is not None else None
        if wait is None:
            wait = self.backoff * (2**attempt) * (0.5 + random.random() / 2)
        if time.monotonic() + wait >= deadline:
            return False
        await asyncio.sleep(wait)
        return True

    async def _send(self, payload: dict[str, Any], stream: bool) -> httpx.Response:
        """POST with retries; returns an open response with a 2xx status (the caller closes it)."""
        client, _ = self._state()
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                request = client.build_request("POST", self.url, json=payload)
                response = await client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                raise BackendError("timeout", f"{self.url}: timed out") from exc
            except httpx.HTTPError as exc:
                if not await self._pause(attempt, None, deadline):
                    raise BackendError("unavailable", f"{self.url}: {exc.__class__.__name__}: {exc}") from exc
                attempt += 1
                continue
            if response.is_success:
                return response
            await response.aread()
            await response.aclose()
            status = response.status_code
            if status in RETRY_STATUSES and await self._pause(attempt, response, deadline):
                log.info("model server answered %s; retry %d", status, attempt + 1)
                attempt += 1
                continue
            reason = "rate_limited" if status == 429 else "http_error"
            raise BackendError(reason, f"{self.url}: HTTP {status}: {response.text[:200]}")

    # -- the interface ----------------------------------------------------------------------------
    async def answer(self, question: str, passages: Sequence[NumberedPassage]) -> BackendAnswer:
        _, slots = self._state()
        async with slots:
            response = await self._send(self._payload(question, passages, stream=False), stream=False)
            try:
                payload = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BackendError("bad_response", f"not JSON: {response.text[:200]!r}") from exc
        text = strip_reasoning(_content(payload))
        if not text:
            raise BackendError("empty", "the model returned an empty answer")
        return BackendAnswer(text=text)

    async def stream(self, question: str, passages: Sequence[NumberedPassage]) -> AsyncIterator[str]:
        """Text deltas from server-sent events (`data: {chunk}` lines, ended by `data: [DONE]`)."""
        _, slots = self._state()
        async with slots:
            response = await self._send(self._payload(question, passages, stream=True), stream=True)
            try:
                if response.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignores "stream": true answers with one whole completion.
                    await response.aread()
                    try:
                        yield _content(response.json())
                    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                        raise BackendError("bad_response", f"not JSON: {response.text[:200]!r}") from exc
                    return
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except json.JSONDecodeError as exc:
                        raise BackendError("bad_response", f"malformed stream chunk: {data[:200]!r}") from exc
                    if isinstance(chunk, dict) and "error" in chunk:
                        raise BackendError("http_error", f"error in stream: {str(chunk['error'])[:200]}")
                    delta = _delta(chunk)
                    if delta:
                        yield delta
            except httpx.TimeoutException as exc:
                raise BackendError("timeout", f"{self.url}: stream timed out") from exc
            except httpx.HTTPError as exc:
                raise BackendError("unavailable", f"{self.url}: stream broke: {exc}") from exc
            finally:
                await response.aclose()
