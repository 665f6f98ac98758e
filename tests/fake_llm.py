"""A scripted OpenAI-compatible chat-completions server on loopback, for the model-backend tests.

It is a real HTTP server (http.server in a thread), so the client's retries, timeouts, SSE parsing and
connection handling are exercised for real. Each request is answered by `server.script(call)`: a function
of the parsed request (the numbered passages Verbatim sent, the question, the call index) returning a
`Reply` — text (sent whole or as SSE chunks, as the client asked), an error status, raw bytes, a delay.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PASSAGE = re.compile(
    r"<<<PASSAGE (\d+) tag=(\w+)>>>\ntitle: (.*?)\nsource: (.*?)\n\n(.*?)\n<<<END PASSAGE \1 tag=\2>>>", re.S
)


@dataclass
class Call:
    """One request as the script sees it."""

    index: int
    body: dict[str, Any]
    headers: dict[str, str]
    passages: dict[int, str]
    sources: dict[int, str]
    question: str

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass
class Reply:
    text: str | None = None
    status: int = 200
    raw: bytes | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    chunk_size: int = 7


def parse_call(index: int, body: dict[str, Any], headers: dict[str, str]) -> Call:
    user = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    passages = {int(m.group(1)): m.group(5) for m in PASSAGE.finditer(user)}
    sources = {int(m.group(1)): m.group(4) for m in PASSAGE.finditer(user)}
    question = user.rsplit("Question: ", 1)[-1].split("\n", 1)[0] if "Question: " in user else ""
    return Call(index, body, headers, passages, sources, question)


class FakeLLM:
    """Start with `with FakeLLM() as llm:`; set `llm.script`; inspect `llm.calls` and `llm.max_inflight`."""

    def __init__(self) -> None:
        self.script: Callable[[Call], Reply] = lambda call: Reply(text="The documents do not say.")
        self.calls: list[Call] = []
        self.inflight: dict[int, int] = {}  # per script generation (a timed-out call may still be asleep)
        self.generation = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self, script: Callable[[Call], Reply]) -> None:
        with self._lock:
            self.script = script
            self.calls = []
            self.max_inflight = 0
            self.generation += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith("/chat/completions"):
                    self._send(404, b'{"error": "not found"}', "application/json", {})
                    return
                with fake._lock:
                    call = parse_call(len(fake.calls), body, {k.lower(): v for k, v in self.headers.items()})
                    fake.calls.append(call)
                    gen = fake.generation
                    fake.inflight[gen] = fake.inflight.get(gen, 0) + 1
                    fake.max_inflight = max(fake.max_inflight, fake.inflight[gen])
                    script = fake.script
                try:
                    reply = script(call)
                    if reply.delay:
                        time.sleep(reply.delay)
                finally:
                    with fake._lock:  # before replying: the client may send its next call at once
                        fake.inflight[gen] -= 1
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._reply(call, reply)

            def _reply(self, call: Call, reply: Reply) -> None:
                if reply.status != 200:
                    error = json.dumps({"error": {"message": f"scripted {reply.status}"}}).encode()
                    self._send(reply.status, error, "application/json", reply.headers)
                    return
                if reply.raw is not None:
                    kind = "text/event-stream" if call.stream else "application/json"
                    self._send(200, reply.raw, kind, reply.headers)
                    return
                text = reply.text or ""
                base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": call.body.get("model")}
                if not call.stream:
                    message = {"role": "assistant", "content": text}
                    payload = {
                        **base,
                        "object": "chat.completion",
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    }
                    self._send(200, json.dumps(payload).encode(), "application/json", reply.headers)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [text[i : i + reply.chunk_size] for i in range(0, len(text), reply.chunk_size)]
                events = [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces]
                for delta in events:
                    chunk = {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def words(text: str, n: int = 8, skip: int = 0) -> str:
    """A verbatim run of `n` words on one line of `text` (the `skip`-th such run): a faithful quote."""
    runs = list(re.finditer(rf"\b[A-Za-z][\w'’-]*(?:[ ,]+[\w'’-]+){{{n - 1}}}\b", text))
    return runs[min(skip, len(runs) - 1)].group(0)
