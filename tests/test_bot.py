"""End-to-end tests of the Slack bot over real HTTP on loopback.

The bot runs under uvicorn on a free 127.0.0.1 port and receives requests shaped and signed
exactly like Slack's (event callbacks, slash-command form posts, block_actions payloads). A fake
Slack Web API on loopback records `auth.test`, `chat.postMessage` and `response_url` calls. The
happy paths ask the real Verbatim API (`service.app:create_app` over the seeds corpus); a small
fake API is used only for failure cases (API down, slow) and for counting calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from verbatim.service.bot import create_bot_app
from verbatim.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
BOT_USER, BOT_ID, TEAM = "UBOT0001", "BBOT0001", "T0001"
PUBLIC = "https://verbatim.example.org"
QUESTION = "Who lifted the transit ban?"

pytestmark = pytest.mark.timeout(300)


# --------------------------------------------------------------------------- loopback servers


class ServerThread:
    """Run an ASGI app under uvicorn in a thread on a pre-bound loopback socket (no port races)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout: float = 20.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class FakeSlack:
    """A Slack Web API stand-in that records what the bot sends and can answer 429 on demand."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.rate_limit_next = 0
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self.api, methods=["POST"]),
                Route("/hooks/{hook}", self.hook, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.rate_limit_next = 0

    async def _body(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            return await request.json()
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))

    async def api(self, request: Request) -> Response:
        method = request.path_params["method"]
        body = await self._body(request)
        auth = request.headers.get("authorization")
        with self.lock:
            limited = method == "chat.postMessage" and self.rate_limit_next > 0
            if limited:
                self.rate_limit_next -= 1
            self.calls.append(
                {
                    "kind": "api",
                    "method": method,
                    "body": body,
                    "auth": auth,
                    "limited": limited,
                    "at": time.monotonic(),
                }
            )
        if auth != f"Bearer {TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if limited:
            return JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": "1"}
            )
        if method == "auth.test":
            return JSONResponse(
                {
                    "ok": True,
                    "url": "https://test.slack.com/",
                    "team": "Test",
                    "user": "verbatim",
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "bot_id": BOT_ID,
                    "is_enterprise_install": False,
                }
            )
        if method == "chat.postMessage":
            return JSONResponse(
                {
                    "ok": True,
                    "channel": body.get("channel"),
                    "ts": f"{time.time():.6f}",
                    "message": {"text": body.get("text"), "bot_id": BOT_ID},
                }
            )
        return JSONResponse({"ok": False, "error": "unknown_method"})

    async def hook(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.calls.append(
                {"kind": "hook", "hook": request.path_params["hook"], "body": body, "at": time.monotonic()}
            )
        return Response("ok")

    def posts(self) -> list[dict[str, Any]]:
        """Successful chat.postMessage bodies."""
        with self.lock:
            return [
                c["body"]
                for c in self.calls
                if c["kind"] == "api" and c["method"] == "chat.postMessage" and not c["limited"]
            ]

    def hooks(self, hook: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c["body"] for c in self.calls if c["kind"] == "hook" and c["hook"] == hook]


class FakeApi:
    """A DESIGN-shaped stand-in for the Verbatim API, for failure cases (slow) and call counting."""

    def __init__(self, delay: float = 0.0, not_ready: int = 0) -> None:
        self.delay = delay
        self.not_ready = not_ready
        self.url = ""
        self.questions: list[str] = []
        self.auth: list[str | None] = []
        self.app = Starlette(routes=[Route("/ask", self.ask, methods=["POST"])])

    async def ask(self, request: Request) -> Response:
        body = await request.json()
        self.questions.append(body["question"])
        self.auth.append(request.headers.get("authorization"))
        if self.not_ready > 0:
            self.not_ready -= 1
            return JSONResponse({"detail": "index is loading"}, status_code=503, headers={"Retry-After": "1"})
        if self.delay:
            await asyncio.sleep(self.delay)
        source = "001_9cfcfe3f674856fa.txt"
        text = (SEEDS / source).open(encoding="utf-8", newline="").read()
        quote = "All restrictions on the transit of goods from Azerbaijan to Armenia"
        start = text.index(quote)
        return JSONResponse(
            {
                "answer": f"“{quote}” [1]",
                "abstained": False,
                "backend": "extractive",
                "citations": [
                    {
                        "n": 1,
                        "source": source,
                        "title": text.splitlines()[0],
                        "quote": quote,
                        "start": start,
                        "end": start + len(quote),
                        "chunk_id": "c1",
                        "score": 0.7,
                    }
                ],
                "passages": [
                    {
                        "chunk_id": "c1",
                        "source": source,
                        "title": text.splitlines()[0],
                        "start": start,
                        "end": start + len(quote),
                        "text": quote,
                        "score": 0.7,
                    }
                ],
                "timings_ms": {"retrieve": 1.0, "answer": 1.0, "total": 2.0},
            }
        )


# --------------------------------------------------------------------------- Slack-shaped requests


def signed_headers(body: bytes, *, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 over `v0:{timestamp}:{body}` (computed here independently)."""
    ts = int(time.time()) if ts is None else ts
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def event_callback(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "context_team_id": TEAM,
        "context_enterprise_id": None,
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM,
                "user_id": BOT_USER,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIn0",
    }


def new_ts() -> str:
    return f"{time.time():.6f}"


def mention(
    text: str,
    *,
    channel: str = "C0001",
    user: str = "U0USER1",
    thread_ts: str | None = None,
    ts: str | None = None,
) -> dict[str, Any]:
    ts = ts or new_ts()
    event = {
        "type": "app_mention",
        "client_msg_id": str(uuid.uuid4()),
        "text": f"<@{BOT_USER}> {text}",
        "user": user,
        "ts": ts,
        "team": TEAM,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def dm(text: str, *, channel: str = "D0001", user: str = "U0USER1", **extra: Any) -> dict[str, Any]:
    ts = new_ts()
    event = {
        "type": "message",
        "client_msg_id": str(uuid.uuid4()),
        "text": text,
        "user": user,
        "ts": ts,
        "team": TEAM,
        "channel": channel,
        "event_ts": ts,
        "channel_type": "im",
    }
    event.update(extra)
    return event


class SlackSender:
    """Posts signed Slack-shaped requests to the bot."""

    def __init__(self, url: str, fake_slack_url: str) -> None:
        self.url = url + "/slack/events"
        self.hooks_url = fake_slack_url + "/hooks"
        self.http = httpx.Client(timeout=10)

    def post_raw(
        self, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.http.post(
            self.url, content=body, headers={"Content-Type": content_type, **(headers or {})}
        )

    def event(self, payload: dict[str, Any], **headers: str) -> httpx.Response:
        body = json.dumps(payload).encode()
        return self.post_raw(body, "application/json", {**signed_headers(body), **headers})

    def command(self, text: str, hook: str, *, command: str = "/ask") -> httpx.Response:
        form = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "test",
            "channel_id": "C0001",
            "channel_name": "general",
            "user_id": "U0USER1",
            "user_name": "ada",
            "command": command,
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": f"{self.hooks_url}/{hook}",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
        body = urlencode(form).encode()
        return self.post_raw(body, "application/x-www-form-urlencoded", signed_headers(body))

    def click(
        self, message: dict[str, Any], action_id: str, hook: str, *, channel: str, user: str
    ) -> httpx.Response:
        actions_block = next(b for b in message["blocks"] if b["type"] == "actions")
        button = next(e for e in actions_block["elements"] if e["action_id"] == action_id)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "ada", "name": "ada", "team_id": TEAM},
            "api_app_id": "A0001",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": "1700000000.000200",
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "team": {"id": TEAM, "domain": "test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "general"},
            "message": {
                "type": "message",
                "subtype": "bot_message",
                "text": message["text"],
                "ts": "1700000000.000200",
                "bot_id": BOT_ID,
                "blocks": message["blocks"],
            },
            "state": {"values": {}},
            "response_url": f"{self.hooks_url}/{hook}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": actions_block["block_id"],
                    "text": button["text"],
                    "value": button["value"],
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post_raw(body, "application/x-www-form-urlencoded", signed_headers(body))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[tuple[FakeSlack, str]]:
    slack = FakeSlack()
    server = ServerThread(slack.app).start()
    yield slack, server.url
    server.stop()


@pytest.fixture(scope="module")
def verbatim_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Verbatim API over the seeds corpus, served on loopback (ingests on first start)."""
    from verbatim.service.api.app import create_app

    data_dir = tmp_path_factory.mktemp("api-data")
    # Share the int8 model export with the rest of the suite (data/ is git-ignored), as conftest does.
    cache = Path(os.environ.get("VERBATIM_TEST_MODEL_CACHE", REPO / "data" / "test-models"))
    settings = Settings(data_dir=data_dir, corpus_dir=SEEDS, model_cache_dir=cache)
    server = ServerThread(create_app(settings)).start(timeout=60)
    wait_for(
        lambda: httpx.get(server.url + "/readyz", timeout=5).status_code == 200,
        timeout=180,
        what="the Verbatim API to be ready",
    )
    yield server.url
    server.stop()


BotFactory = Callable[..., tuple[str, SlackSender, Path]]


@pytest.fixture
def start_bot(fake_slack: tuple[FakeSlack, str], tmp_path: Path) -> Iterator[BotFactory]:
    """Start a bot against `api_url`; returns (bot url, signed sender, data dir). Stopped after the test."""
    slack, slack_url = fake_slack
    slack.reset()
    servers: list[ServerThread] = []

    def start(
        api_url: str, *, api_timeout: float = 60.0, api_keys: str | None = None
    ) -> tuple[str, SlackSender, Path]:
        settings = Settings(
            data_dir=tmp_path,
            api_url=api_url,
            public_url=PUBLIC,
            api_keys=api_keys,
            slack_signing_secret=SECRET,
            slack_bot_token=TOKEN,
            slack_api_url=slack_url + "/api/",
        )
        server = ServerThread(create_bot_app(settings, api_timeout=api_timeout)).start()
        servers.append(server)
        return server.url, SlackSender(server.url, slack_url), tmp_path

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    server = ServerThread(api.app).start()
    api.url = server.url
    yield api
    server.stop()


def seed_span(source: str, start: int, end: int) -> str:
    return (SEEDS / source).open(encoding="utf-8", newline="").read()[start:end]


def quote_blocks(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(link url, quote text) for every quote block in a message."""
    out = []
    for b in blocks:
        if b["type"] == "rich_text":
            label, quote = b["elements"]
            url = next(e["url"] for e in label["elements"] if e["type"] == "link")
            out.append((url, "".join(run["text"] for run in quote["elements"])))  # bold value runs too
    return out


def assert_verbatim_quotes(blocks: list[dict[str, Any]]) -> None:
    """Every quote shown must be the exact span its link points to (the offset invariant, end to end)."""
    quotes = quote_blocks(blocks)
    assert quotes, "answer has no quote blocks"
    for url, text in quotes:
        assert url.startswith(PUBLIC + "/#/doc/")
        path, _, query = url[len(PUBLIC + "/#/doc/") :].partition("?")
        params = dict(p.split("=") for p in query.split("&"))
        span = seed_span(path, int(params["start"]), int(params["end"]))
        assert text == span or (text.endswith("…") and span.startswith(text[:-1].rstrip()))


def metric_value(bot_url: str, name: str, **labels: str) -> float:
    text = httpx.get(bot_url + "/metrics", timeout=5).text
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == want:
            return float(value)
    return 0.0


# --------------------------------------------------------------------------- tests: protocol


def test_url_verification_and_health(start_bot: BotFactory, fake_api: FakeApi) -> None:
    bot_url, sender, _ = start_bot(fake_api.url)
    payload = {
        "token": "legacy-verification-token",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    resp = sender.event(payload)
    assert resp.status_code == 200
    assert resp.json() == {"challenge": payload["challenge"]}
    assert httpx.get(bot_url + "/healthz").json() == {"status": "ok"}
    metrics = httpx.get(bot_url + "/metrics")
    assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]
    assert metric_value(bot_url, "verbatim_bot_requests_total", kind="url_verification") == 1.0


def test_bad_missing_and_stale_signatures_get_401(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    bot_url, sender, _ = start_bot(fake_api.url)
    body = json.dumps(event_callback(mention(QUESTION))).encode()
    now = int(time.time())
    cases = {
        "missing": {},
        "no signature": {"X-Slack-Request-Timestamp": str(now)},
        "wrong secret": signed_headers(body, secret="not-the-secret"),
        "stale": signed_headers(body, ts=now - 6 * 60),
        "future": signed_headers(body, ts=now + 6 * 60),
        "garbage": {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=zz"},
    }
    for name, headers in cases.items():
        resp = sender.post_raw(body, "application/json", headers)
        assert resp.status_code == 401, name
    # A valid signature over a different body (tampering) is rejected too.
    other = json.dumps(event_callback(mention("something else"))).encode()
    assert sender.post_raw(other, "application/json", signed_headers(body)).status_code == 401
    # Unsigned junk is a 401, never a parse error; signed junk is a 400, never a 500.
    assert sender.post_raw(b"\xff\xfe{", "application/json").status_code == 401
    assert sender.post_raw(b"{not json", "application/json", signed_headers(b"{not json")).status_code == 400
    # Slash commands and actions are verified the same way.
    form = urlencode({"command": "/ask", "text": QUESTION, "response_url": "http://127.0.0.1:9/x"}).encode()
    bad = signed_headers(form, ts=now - 3600)
    assert sender.post_raw(form, "application/x-www-form-urlencoded", bad).status_code == 401

    time.sleep(0.5)
    assert fake_api.questions == [], "a rejected request must never reach the API"
    assert fake_slack[0].posts() == []
    assert metric_value(bot_url, "verbatim_bot_rejected_requests_total", reason="signature") == 9.0
    # The bot still serves correctly signed requests.
    assert sender.event(event_callback(mention(QUESTION))).status_code == 200
    wait_for(lambda: fake_slack[0].posts(), what="the answer after the rejections")


# --------------------------------------------------------------------------- tests: answers (real API)


def test_mention_gets_threaded_answer_with_quotes(
    start_bot: BotFactory, verbatim_api: str, fake_slack: tuple[FakeSlack, str]
) -> None:
    slack = fake_slack[0]
    bot_url, sender, _ = start_bot(verbatim_api)
    event = mention(QUESTION, channel="C0MENTION")
    started = time.monotonic()
    resp = sender.event(event_callback(event))
    assert resp.status_code == 200
    assert time.monotonic() - started < 3.0, "events must be acked within Slack's 3 seconds"

    post = wait_for(lambda: slack.posts(), timeout=60, what="chat.postMessage")[0]
    assert post["channel"] == "C0MENTION"
    assert post["thread_ts"] == event["ts"], "a mention is answered in its thread"
    assert post["unfurl_links"] is False
    blocks = post["blocks"]
    assert len(blocks) <= 50
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"] == QUESTION
    answer_text = blocks[1]["text"]["text"]
    assert answer_text and "[1]" in answer_text
    assert_verbatim_quotes(blocks)
    assert any("transit" in q.lower() for _, q in quote_blocks(blocks))
    assert blocks[-1]["type"] == "actions"
    # Each link is the web page's route to the span; the document request the page makes for it,
    # sent to the real API instead of the public URL, returns exactly the quoted span.
    for url, quote in quote_blocks(blocks):
        doc = httpx.get(url.replace(PUBLIC + "/#/doc/", verbatim_api + "/documents/"), timeout=10)
        assert doc.status_code == 200
        assert doc.json()["span"]["text"] == quote
    assert post["text"].startswith(answer_text[:50].replace("&", "&amp;").replace("<", "&lt;"))
    # The bot authenticated to Slack with its token.
    assert all(c["auth"] == f"Bearer {TOKEN}" for c in slack.calls if c["kind"] == "api")
    assert metric_value(bot_url, "verbatim_bot_answers_total", surface="mention", outcome="answered") == 1.0


def test_mention_inside_a_thread_answers_in_that_thread(
    start_bot: BotFactory, verbatim_api: str, fake_slack: tuple[FakeSlack, str]
) -> None:
    _, sender, _ = start_bot(verbatim_api)
    event = mention(QUESTION, thread_ts="1699999999.000100")
    assert sender.event(event_callback(event)).status_code == 200
    post = wait_for(lambda: fake_slack[0].posts(), timeout=60, what="chat.postMessage")[0]
    assert post["thread_ts"] == "1699999999.000100"


def test_direct_message_answered_in_conversation(
    start_bot: BotFactory, verbatim_api: str, fake_slack: tuple[FakeSlack, str]
) -> None:
    _, sender, _ = start_bot(verbatim_api)
    assert sender.event(event_callback(dm(QUESTION, channel="D0DM"))).status_code == 200
    post = wait_for(lambda: fake_slack[0].posts(), timeout=60, what="chat.postMessage")[0]
    assert post["channel"] == "D0DM"
    assert "thread_ts" not in post, "a DM is answered in the conversation, not in a thread"
    assert_verbatim_quotes(post["blocks"])


def test_abstention_says_so_and_offers_closest_passages(
    start_bot: BotFactory, verbatim_api: str, fake_slack: tuple[FakeSlack, str]
) -> None:
    bot_url, sender, _ = start_bot(verbatim_api)
    assert sender.event(event_callback(dm("What is the capital of Mars?"))).status_code == 200
    post = wait_for(lambda: fake_slack[0].posts(), timeout=60, what="chat.postMessage")[0]
    blocks = post["blocks"]
    assert any(b["type"] == "context" and "Closest passages" in b["elements"][0]["text"] for b in blocks)
    assert_verbatim_quotes(blocks)  # closest passages are verbatim too (possibly shortened)
    assert metric_value(bot_url, "verbatim_bot_answers_total", surface="dm", outcome="abstained") == 1.0


def test_slash_command_acked_within_3s_and_answered(
    start_bot: BotFactory, verbatim_api: str, fake_slack: tuple[FakeSlack, str]
) -> None:
    slack = fake_slack[0]
    bot_url, sender, _ = start_bot(verbatim_api)
    started = time.monotonic()
    resp = sender.command(QUESTION, "cmd1")
    elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert elapsed < 3.0, f"slash command ack took {elapsed:.2f}s"
    ack = resp.json()
    assert ack["response_type"] == "ephemeral" and QUESTION in ack["text"]

    answer = wait_for(lambda: slack.hooks("cmd1"), timeout=60, what="response_url answer")[0]
    assert answer["response_type"] == "in_channel"
    assert answer["replace_original"] is False
    assert answer["blocks"][0]["text"]["text"] == QUESTION
    assert_verbatim_quotes(answer["blocks"])
    assert any(b["type"] == "context" and "<@U0USER1>" in b["elements"][0]["text"] for b in answer["blocks"])
    assert slack.posts() == [], "slash commands answer through response_url"
    assert metric_value(bot_url, "verbatim_bot_answers_total", surface="slash", outcome="answered") == 1.0


def test_empty_slash_command_gets_usage(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    _, sender, _ = start_bot(fake_api.url)
    resp = sender.command("   ", "cmd-empty")
    assert resp.status_code == 200 and "/ask" in resp.json()["text"]
    time.sleep(0.5)
    assert fake_api.questions == [] and fake_slack[0].hooks("cmd-empty") == []


def test_slash_command_ack_does_not_wait_for_a_slow_api(
    start_bot: BotFactory, fake_slack: tuple[FakeSlack, str]
) -> None:
    slow = FakeApi(delay=4.0)
    server = ServerThread(slow.app).start()
    try:
        _, sender, _ = start_bot(server.url, api_timeout=15)
        started = time.monotonic()
        resp = sender.command(QUESTION, "cmd-slow")
        assert resp.status_code == 200
        assert time.monotonic() - started < 3.0, "the ack must not wait for the answer"
        answer = wait_for(lambda: fake_slack[0].hooks("cmd-slow"), timeout=15, what="late answer")[0]
        assert time.monotonic() - started >= 4.0
        assert answer["response_type"] == "in_channel" and quote_blocks(answer["blocks"])
    finally:
        server.stop()


def test_retried_event_is_answered_once(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    bot_url, sender, _ = start_bot(fake_api.url)
    event = mention(QUESTION, channel="C0RETRY")
    payload = event_callback(event, event_id="Ev0RETRY01")
    assert sender.event(payload).status_code == 200
    # Slack's retries carry the same event_id and X-Slack-Retry-Num / -Reason headers.
    for n in (1, 2):
        resp = sender.event(payload, **{"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"})
        assert resp.status_code == 200
    # A repeat without retry headers, and the same message under another event_id, are dropped too.
    assert sender.event(payload).status_code == 200
    assert sender.event(event_callback(event, event_id="Ev0RETRY02")).status_code == 200

    wait_for(lambda: fake_slack[0].posts(), what="the answer")
    time.sleep(1.5)  # room for any (wrong) second answer to arrive
    posts = fake_slack[0].posts()
    assert len(posts) == 1 and posts[0]["thread_ts"] == event["ts"]
    assert fake_api.questions == [QUESTION], "the API is asked once"
    assert metric_value(bot_url, "verbatim_bot_duplicate_events_total") == 4.0


def test_feedback_click_is_recorded(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    slack = fake_slack[0]
    bot_url, sender, data_dir = start_bot(fake_api.url)
    assert sender.event(event_callback(mention(QUESTION, channel="C0FB"))).status_code == 200
    post = wait_for(lambda: slack.posts(), what="the answer")[0]

    resp = sender.click(post, "verbatim_feedback_helpful", "fb1", channel="C0FB", user="U0VOTER1")
    assert resp.status_code == 200
    resp = sender.click(post, "verbatim_feedback_not_helpful", "fb2", channel="C0FB", user="U0VOTER2")
    assert resp.status_code == 200

    log = data_dir / "feedback.jsonl"
    records = wait_for(
        lambda: log.exists() and len(log.read_text().splitlines()) == 2 and log.read_text().splitlines(),
        what="two feedback records",
    )
    first, second = (json.loads(line) for line in records)
    by_user = {r["user"]: r for r in (first, second)}
    assert by_user["U0VOTER1"]["rating"] == "helpful"
    assert by_user["U0VOTER2"]["rating"] == "not_helpful"
    for r in by_user.values():
        assert r["question"] == QUESTION
        assert r["channel"] == "C0FB" and r["team"] == TEAM and r["surface"] == "mention"
        assert r["citations"][0]["source"] == "001_9cfcfe3f674856fa.txt"
        assert r["answer_id"] and r["ts"]
    assert first["answer_id"] == second["answer_id"]
    assert metric_value(bot_url, "verbatim_bot_feedback_total", rating="helpful") == 1.0
    assert metric_value(bot_url, "verbatim_bot_feedback_total", rating="not_helpful") == 1.0
    thanks = wait_for(lambda: slack.hooks("fb1"), what="the thank-you")[0]
    assert thanks["response_type"] == "ephemeral" and "helpful" in thanks["text"]
    assert thanks["replace_original"] is False


def test_own_and_other_bot_messages_are_ignored(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    bot_url, sender, _ = start_bot(fake_api.url)
    ignored = [
        # The bot's own answer in a DM comes back as a message.im event.
        dm(
            "“All restrictions …” [1]",
            user=BOT_USER,
            bot_id=BOT_ID,
            bot_profile={"id": BOT_ID, "name": "verbatim", "app_id": "A0001"},
        ),
        # Another bot.
        dm("hello from another bot", user="U0OTHERBOT", bot_id="B0OTHER", subtype="bot_message"),
        # Edits and deletions.
        {**dm("edited"), "subtype": "message_changed"},
        # Channel chatter (we only answer mentions in channels).
        {**dm(QUESTION), "channel": "C0CHAT", "channel_type": "channel"},
        # Another bot mentioning us.
        {**mention(QUESTION), "bot_id": "B0OTHER"},
    ]
    for event in ignored:
        assert sender.event(event_callback(event)).status_code == 200
    time.sleep(1.5)
    assert fake_slack[0].posts() == []
    assert fake_api.questions == []
    assert metric_value(bot_url, "verbatim_bot_ignored_events_total", reason="bot") == 2.0
    assert metric_value(bot_url, "verbatim_bot_ignored_events_total", reason="subtype") == 1.0
    assert metric_value(bot_url, "verbatim_bot_ignored_events_total", reason="not_dm") == 1.0
    # A human's DM right after is answered, so silence above was deliberate.
    assert sender.event(event_callback(dm(QUESTION))).status_code == 200
    wait_for(lambda: fake_slack[0].posts(), what="the human's answer")
    assert fake_api.questions == [QUESTION]


def test_empty_mention_gets_usage_hint(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    _, sender, _ = start_bot(fake_api.url)
    event = mention("")
    assert sender.event(event_callback(event)).status_code == 200
    post = wait_for(lambda: fake_slack[0].posts(), what="usage hint")[0]
    assert "/ask" in post["text"] and post["thread_ts"] == event["ts"]
    assert fake_api.questions == []


def test_bot_sends_api_key_as_bearer_token(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    _, sender, _ = start_bot(fake_api.url, api_keys="first-key, second-key")
    assert sender.event(event_callback(dm(QUESTION))).status_code == 200
    wait_for(lambda: fake_slack[0].posts(), what="the answer")
    assert fake_api.auth == ["Bearer first-key"]


# --------------------------------------------------------------------------- tests: failures


def test_api_not_ready_is_retried_once(start_bot: BotFactory, fake_slack: tuple[FakeSlack, str]) -> None:
    api = FakeApi(not_ready=1)
    server = ServerThread(api.app).start()
    try:
        _, sender, _ = start_bot(server.url, api_timeout=10)
        assert sender.event(event_callback(dm(QUESTION))).status_code == 200
        post = wait_for(lambda: fake_slack[0].posts(), what="the answer after a 503")[0]
        assert quote_blocks(post["blocks"]) and api.questions == [QUESTION, QUESTION]
    finally:
        server.stop()


def test_too_long_question_is_refused_locally(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    _, sender, _ = start_bot(fake_api.url)
    assert sender.event(event_callback(dm("why " * 600))).status_code == 200
    post = wait_for(lambda: fake_slack[0].posts(), what="the refusal")[0]
    assert "too long" in post["text"] and "2000" in post["text"]
    assert fake_api.questions == []


def test_api_down_gets_apology_in_thread(start_bot: BotFactory, fake_slack: tuple[FakeSlack, str]) -> None:
    bot_url, sender, _ = start_bot(closed_port_url(), api_timeout=5)
    event = mention(QUESTION, channel="C0DOWN")
    assert sender.event(event_callback(event)).status_code == 200
    post = wait_for(lambda: fake_slack[0].posts(), what="the apology")[0]
    assert post["channel"] == "C0DOWN" and post["thread_ts"] == event["ts"]
    assert "Sorry" in post["text"] and "couldn't reach" in post["text"]
    assert not any(b["type"] == "actions" for b in post["blocks"]), "no feedback buttons on an apology"
    # Slash commands apologise privately through response_url.
    sender.command(QUESTION, "cmd-down")
    apology = wait_for(lambda: fake_slack[0].hooks("cmd-down"), what="slash apology")[0]
    assert apology["response_type"] == "ephemeral" and "Sorry" in apology["text"]
    # Still alive and counting.
    assert httpx.get(bot_url + "/healthz").status_code == 200
    assert metric_value(bot_url, "verbatim_bot_answers_total", surface="mention", outcome="api_error") == 1.0


def test_slow_api_gets_apology(start_bot: BotFactory, fake_slack: tuple[FakeSlack, str]) -> None:
    slow = FakeApi(delay=10.0)
    server = ServerThread(slow.app).start()
    try:
        _, sender, _ = start_bot(server.url, api_timeout=1.0)
        event = mention(QUESTION)
        started = time.monotonic()
        assert sender.event(event_callback(event)).status_code == 200
        post = wait_for(lambda: fake_slack[0].posts(), timeout=8, what="the apology")[0]
        assert time.monotonic() - started < 6
        assert post["thread_ts"] == event["ts"] and "Sorry" in post["text"] and "too long" in post["text"]
    finally:
        server.stop()


def test_slack_rate_limit_is_retried(
    start_bot: BotFactory, fake_api: FakeApi, fake_slack: tuple[FakeSlack, str]
) -> None:
    slack = fake_slack[0]
    _, sender, _ = start_bot(fake_api.url)
    slack.rate_limit_next = 1
    assert sender.event(event_callback(dm(QUESTION))).status_code == 200
    post = wait_for(lambda: slack.posts(), timeout=15, what="the answer after a 429")[0]
    attempts = [c for c in slack.calls if c["kind"] == "api" and c["method"] == "chat.postMessage"]
    assert [a["limited"] for a in attempts] == [True, False]
    assert attempts[1]["at"] - attempts[0]["at"] >= 1.0, "Retry-After must be honoured"
    assert quote_blocks(post["blocks"])


def test_run_bot_serves_from_environment_settings(tmp_path: Path, fake_slack: tuple[FakeSlack, str]) -> None:
    """`run_bot` (what `verbatim bot` calls) reads SLACK_* / VERBATIM_* from the environment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": fake_slack[1] + "/api/",
        "VERBATIM_API_URL": closed_port_url(),
        "VERBATIM_DATA_DIR": str(tmp_path),
    }
    code = f"from service.bot import run_bot; run_bot('127.0.0.1', {port})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "bot exited"
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=60, what="run_bot to serve /healthz")
        sender = SlackSender(url, fake_slack[1])
        assert sender.post_raw(b"{}", "application/json").status_code == 401
        assert sender.event({"type": "url_verification", "challenge": "abc"}).json() == {"challenge": "abc"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
