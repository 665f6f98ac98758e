"""The Slack bot: Bolt listeners, the FastAPI app that serves them, and `run_bot`.

Slack's own libraries do the protocol work (slack_bolt verifies signatures, answers
`url_verification`, drops the bot's own events and acks within Slack's 3-second window;
slack_sdk posts messages and retries rate-limited calls). This module decides what to answer,
asks the Verbatim API over HTTP, and makes sure no failure ever reaches Slack as a crash.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from verbatim.settings import Settings, get_settings

from .api import MAX_QUESTION_CHARS, ApiError, VerbatimClient
from .blocks import (
    FEEDBACK_ACTIONS,
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    Block,
    answer_message,
    clean_question,
    escape_mrkdwn,
    notice_message,
    parse_feedback_value,
    truncate,
)
from .dedupe import RecentKeys
from .feedback import FeedbackLog
from .telemetry import BotMetrics

log = logging.getLogger("verbatim.bot")

DEFAULT_API_TIMEOUT = 25.0
MAX_BODY_BYTES = 1_000_000
USAGE = (
    "Ask me a question about the documents, e.g. `@Verbatim who lifted the transit ban?` "
    "or `/ask who lifted the transit ban?`. I answer with verbatim quotes and links to their sources."
)
# Message subtypes that still carry a question typed by a person.
_HUMAN_SUBTYPES = {None, "file_share", "thread_broadcast"}


class BotConfigError(ValueError):
    """The bot cannot start safely (a Slack credential is missing)."""


def _retry_handlers() -> list[AsyncRetryHandler]:
    """slack_sdk's own retry policy: connection errors, 429 with `Retry-After`, and 5xx."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]


class VerbatimBot:
    """Holds the Bolt app, its clients and its state (dedupe keys, recent answers, metrics)."""

    def __init__(
        self,
        settings: Settings,
        *,
        api_timeout: float | None = None,
    ) -> None:
        if settings.slack_signing_secret is None or not settings.slack_signing_secret.get_secret_value():
            raise BotConfigError(
                "SLACK_SIGNING_SECRET is not set: the bot cannot verify that requests come from Slack. "
                "See docs/bot.md."
            )
        if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value():
            raise BotConfigError("SLACK_BOT_TOKEN is not set: the bot cannot post answers. See docs/bot.md.")
        timeout = api_timeout or float(getattr(settings, "bot_api_timeout", None) or DEFAULT_API_TIMEOUT)

        self.settings = settings
        self.signing_secret = settings.slack_signing_secret.get_secret_value()
        self.base_url = settings.citation_base_url
        self.metrics = BotMetrics()
        self.api = VerbatimClient(settings, timeout=timeout)
        self.feedback = FeedbackLog(settings.data_dir / "feedback.jsonl")
        self.seen_events = RecentKeys()
        self.seen_messages = RecentKeys()
        self.answers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.verifier = SignatureVerifier(self.signing_secret)
        self.client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            timeout=15,
            retry_handlers=_retry_handlers(),
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=self.signing_secret,
            # Ack first, work after: Slack's 3-second rule holds however long the API takes.
            process_before_response=False,
            name="verbatim",
        )
        self._register()

    # ------------------------------------------------------------------ wiring

    def _register(self) -> None:
        app = self.app
        app.middleware(self._drop_duplicate_events)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        # Any slash command pointed at this URL asks a question; `/ask` is the documented one.
        app.command(re.compile(r"^/\S+$"))(ack=self.ack_command, lazy=[self.answer_command])
        app.action(re.compile(f"^(?:{FEEDBACK_HELPFUL}|{FEEDBACK_NOT_HELPFUL})$"))(self.on_feedback)
        # Catch-alls: Bolt answers unmatched requests with 404, which makes Slack retry and,
        # eventually, disable the event subscription.
        app.action(re.compile(".*"))(self._ack_only)
        app.event(re.compile(".*"))(self._ignore_event)

    async def aclose(self) -> None:
        """Close the API client's connection pool at shutdown."""
        await self.api.aclose()

    async def _drop_duplicate_events(
        self, body: dict[str, Any], request: AsyncBoltRequest, next_: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """Ack a retried or repeated `event_id` without running any listener (answer once)."""
        event_id = str(body.get("event_id") or "") if body.get("type") == "event_callback" else ""
        if event_id and self.seen_events.seen_or_add(event_id):
            retry = request.headers.get("x-slack-retry-num", ["0"])[0]
            log.info("dropping duplicate event %s (retry %s)", event_id, retry)
            self.metrics.duplicates.inc()
            return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
        return await next_()

    def signature_ok(self, body: bytes, timestamp: str, signature: str) -> bool:
        """Slack's v0 signature check; missing, malformed, wrong or stale (> 5 min) values fail."""
        if not timestamp or not signature or not timestamp.strip().lstrip("-").isdigit():
            return False
        try:
            return self.verifier.is_valid(body, timestamp.strip(), signature)
        except (ValueError, TypeError):
            return False

    # ------------------------------------------------------------------ listeners

    def _ignore_reason(self, event: dict[str, Any], context: AsyncBoltContext) -> str | None:
        """Why this message event must not be answered, or None to answer it."""
        if event.get("bot_id") or event.get("subtype") == "bot_message" or event.get("bot_profile"):
            return "bot" if event.get("bot_id") != context.bot_id else "self"
        if context.bot_user_id and event.get("user") == context.bot_user_id:
            return "self"
        if event.get("subtype") not in _HUMAN_SUBTYPES:
            return "subtype"
        if not event.get("user"):
            return "no_user"
        return None

    async def on_mention(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        """`@Verbatim question` in a channel: answer in the thread of the mention."""
        reason = self._ignore_reason(event, context)
        if reason:
            self.metrics.ignored.labels(reason).inc()
            return
        await self._answer_message_event(
            event, surface="mention", thread_ts=event.get("thread_ts") or event.get("ts")
        )

    async def on_message(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        """A direct message: answer in the conversation (in its thread if it was sent in one)."""
        if event.get("channel_type") != "im":
            self.metrics.ignored.labels("not_dm").inc()
            return
        reason = self._ignore_reason(event, context)
        if reason:
            self.metrics.ignored.labels(reason).inc()
            return
        await self._answer_message_event(event, surface="dm", thread_ts=event.get("thread_ts"))

    async def _answer_message_event(
        self, event: dict[str, Any], *, surface: str, thread_ts: str | None
    ) -> None:
        channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
        # The same message can arrive as two events (e.g. app_mention and message.im) with different
        # event_ids; the message itself is what must be answered once.
        if self.seen_messages.seen_or_add(f"{channel}:{ts}"):
            self.metrics.duplicates.inc()
            return
        question = clean_question(str(event.get("text", "")))
        text, blocks, outcome = await self._compose(question, surface=surface, user=event.get("user"))
        posted = await self._post(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks)
        self.metrics.answers.labels(surface, outcome if posted else "slack_error").inc()

    async def ack_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        """Acknowledge a slash command at once (ephemeral), well inside Slack's 3 seconds."""
        question = clean_question(str(command.get("text", "")))
        if not question:
            await ack(response_type="ephemeral", text=USAGE)
            return
        shown = escape_mrkdwn(truncate(question, 200))
        await ack(response_type="ephemeral", text=f":mag: Looking that up: “{shown}”")

    async def answer_command(self, command: dict[str, Any]) -> None:
        """Lazy half of the slash command: ask the API, then answer through `response_url`."""
        question = clean_question(str(command.get("text", "")))
        if not question:
            return
        user = command.get("user_id")
        text, blocks, outcome = await self._compose(question, surface="slash", user=user, asked_by=user)
        response_url = command.get("response_url")
        if response_url:
            # Answers go to the channel; apologies only to the person who asked.
            kind = "ephemeral" if outcome in ("api_error", "usage") else "in_channel"
            posted = await self._respond(str(response_url), text=text, blocks=blocks, response_type=kind)
        else:
            posted = await self._post(
                channel=str(command.get("channel_id", "")), thread_ts=None, text=text, blocks=blocks
            )
        self.metrics.answers.labels("slash", outcome if posted else "slack_error").inc()

    async def on_feedback(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """A helpful / not-helpful click: log it (JSON lines + counter) and thank the user privately."""
        await ack()
        rating = FEEDBACK_ACTIONS.get(str(action.get("action_id")), "unknown")
        value = parse_feedback_value(action.get("value"))
        meta = self.answers.get(value["id"], {})
        user = body.get("user") or {}
        channel = body.get("channel") or {}
        container = body.get("container") or {}
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "rating": rating,
            "answer_id": value["id"],
            "question": meta.get("question") or value["q"],
            "surface": meta.get("surface") or value["s"],
            "abstained": meta.get("abstained"),
            "citations": meta.get("citations"),
            "user": user.get("id") if isinstance(user, dict) else None,
            "team": (body.get("team") or {}).get("id") or context.team_id,
            "channel": channel.get("id") if isinstance(channel, dict) else None,
            "message_ts": container.get("message_ts") if isinstance(container, dict) else None,
        }
        await self.feedback.record(entry)
        self.metrics.feedback.labels(rating).inc()
        response_url = body.get("response_url")
        if response_url:
            word = "helpful" if rating == "helpful" else "not helpful"
            text, blocks = notice_message(f"Thanks, I've noted that this answer was *{word}*.")
            await self._respond(str(response_url), text=text, blocks=blocks, response_type="ephemeral")

    async def _ack_only(self, ack: AsyncAck) -> None:
        await ack()

    async def _ignore_event(self, event: dict[str, Any]) -> None:
        self.metrics.ignored.labels("other_event").inc()

    # ------------------------------------------------------------------ answering

    async def _compose(
        self, question: str, *, surface: str, user: str | None, asked_by: str | None = None
    ) -> tuple[str, list[Block], str]:
        """Ask the API and render (fallback text, blocks, outcome); failures become a short apology."""
        if not question:
            text, blocks = notice_message(USAGE)
            return text, blocks, "usage"
        if len(question) > MAX_QUESTION_CHARS:
            text, blocks = notice_message(
                f"Sorry, that question is too long ({len(question)} characters; "
                f"the limit is {MAX_QUESTION_CHARS})."
            )
            return text, blocks, "usage"
        started = time.perf_counter()
        try:
            data = await self.api.ask(question)
        except ApiError as exc:
            self.metrics.api_seconds.observe(time.perf_counter() - started)
            log.warning("could not answer %s question from %s: %s (%s)", surface, user, exc.kind, exc)
            text, blocks = notice_message(f":warning: {exc.user_message}")
            return text, blocks, "api_error"
        except Exception:  # never let a bug in one answer take the process down
            log.exception("unexpected error asking the API")
            text, blocks = notice_message(":warning: Sorry, something went wrong. Please try again.")
            return text, blocks, "api_error"
        self.metrics.api_seconds.observe(time.perf_counter() - started)

        answer_id = uuid.uuid4().hex[:16]
        self._remember(answer_id, question, surface, data)
        try:
            text, blocks = answer_message(
                question, data, answer_id=answer_id, surface=surface, base_url=self.base_url
            )
        except (TypeError, ValueError, KeyError):
            log.exception("could not render the API's answer")
            text, blocks = notice_message(
                ":warning: Sorry, I couldn't display that answer. Please try again."
            )
            return text, blocks, "api_error"
        if asked_by:
            blocks.insert(
                len(blocks) - 1,
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"Asked by <@{asked_by}>"}],
                },
            )
        return text, blocks, "abstained" if data.get("abstained") else "answered"

    def _remember(self, answer_id: str, question: str, surface: str, data: dict[str, Any]) -> None:
        """Keep a bounded memory of recent answers so feedback records can name what was cited."""
        citations = [
            {k: c.get(k) for k in ("n", "source", "start", "end", "chunk_id")}
            for c in data.get("citations") or []
            if isinstance(c, dict)
        ]
        self.answers[answer_id] = {
            "question": question,
            "surface": surface,
            "abstained": bool(data.get("abstained")),
            "citations": citations,
        }
        while len(self.answers) > 5000:
            self.answers.popitem(last=False)

    async def _post(self, *, channel: str, thread_ts: str | None, text: str, blocks: list[Block]) -> bool:
        """chat.postMessage with slack_sdk's retries; falls back to plain text if blocks are refused."""
        kwargs: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await self.client.chat_postMessage(blocks=blocks, **kwargs)
            return True
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in ("invalid_blocks", "invalid_blocks_format", "msg_too_long"):
                log.warning("Slack refused the blocks (%s); posting plain text", error)
                try:
                    await self.client.chat_postMessage(**kwargs)
                    return True
                except Exception:
                    log.exception("chat.postMessage failed again without blocks")
                    return False
            log.error("chat.postMessage failed: %s", error or exc)
        except Exception:
            log.exception("chat.postMessage failed")
        return False

    async def _respond(self, url: str, *, text: str, blocks: list[Block], response_type: str) -> bool:
        """Post to a slash command's or action's `response_url`, with the same retry policy."""
        try:
            webhook = AsyncWebhookClient(url=url, timeout=15, retry_handlers=_retry_handlers())
            resp = await webhook.send(
                text=text,
                blocks=blocks,
                response_type=response_type,
                replace_original=False,
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception:
            log.exception("posting to response_url failed")
            return False
        if resp.status_code != 200:
            log.error("response_url answered %s: %s", resp.status_code, resp.body[:200])
            return False
        return True


def _request_kind(body: dict[str, Any]) -> str:
    """A low-cardinality label for the metrics: event type, slash command or interaction type."""
    kind = str(body.get("type") or "")
    if kind == "event_callback":
        event = body.get("event") or {}
        etype = str(event.get("type", "unknown")) if isinstance(event, dict) else "unknown"
        if etype == "message" and isinstance(event, dict) and event.get("channel_type") == "im":
            return "message_im"
        return etype if etype in ("app_mention", "message") else "other_event"
    if "command" in body:
        return "slash_command"
    return kind if kind in ("url_verification", "block_actions", "ssl_check") else "other"


def create_bot_app(settings: Settings, *, api_timeout: float | None = None) -> FastAPI:
    """The bot's HTTP app: `POST /slack/events`, `GET /healthz`, `GET /metrics`.

    `api_timeout` bounds each call to the Verbatim API (default: `settings.bot_api_timeout` if
    present, else 25 s) so a slow API yields an apology rather than a silent thread.
    """
    bot = VerbatimBot(settings, api_timeout=api_timeout)
    handler = AsyncSlackRequestHandler(bot.app)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await bot.aclose()

    api = FastAPI(
        title="Verbatim Slack bot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    api.state.bot = bot

    @api.post("/slack/events")
    async def slack_events(request: Request) -> Response:
        """Events, slash commands and interactive actions: verified here, then handed to Bolt."""
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            bot.metrics.rejected.labels("too_large").inc()
            return JSONResponse({"error": "request body too large"}, status_code=413)
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        # SignatureVerifier rejects missing, wrong and stale (> 5 minutes) signatures. Checking before
        # parsing means unsigned junk gets a 401, never a parse error; Bolt verifies again.
        if not bot.signature_ok(raw, timestamp, signature):
            bot.metrics.rejected.labels("signature").inc()
            return JSONResponse({"error": "invalid request signature"}, status_code=401)
        try:
            body = parse_body(raw.decode("utf-8"), request.headers.get("content-type"))
        except (UnicodeDecodeError, ValueError):
            bot.metrics.rejected.labels("malformed").inc()
            return JSONResponse({"error": "malformed body"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("event", {}), dict):
            bot.metrics.rejected.labels("malformed").inc()
            return JSONResponse({"error": "malformed body"}, status_code=400)
        bot.metrics.requests.labels(_request_kind(body)).inc()
        try:
            return await handler.handle(request)
        except Exception:
            log.exception("unexpected error handling a Slack request")
            # A 200 stops Slack from retrying into the same failure; the event id is already deduped.
            return Response(status_code=200)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Process liveness (the bot has no index of its own to check)."""
        return {"status": "ok"}

    @api.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text format, from the bot's private registry."""
        return Response(generate_latest(bot.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return api


def run_bot(host: str = "127.0.0.1", port: int = 3000, settings: Settings | None = None) -> None:
    """Serve the bot with uvicorn until interrupted (what `verbatim bot` runs)."""
    import uvicorn

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_bot_app(settings or get_settings())
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=10)


__all__ = ["BotConfigError", "VerbatimBot", "create_bot_app", "run_bot"]
