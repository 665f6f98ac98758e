"""The web page at `/`: static routes, the page's behaviour in headless Chromium, and end-to-end use.

Three layers:
- the router alone (FastAPI TestClient): the page and its assets, no external URLs;
- the page against a small stub API (DESIGN-shaped /ask and /documents over the real seed files, so the
  offsets are real), plus Playwright request interception for rare statuses (401, 429, 503, streaming);
- end to end against the real Verbatim API (`service.app:create_app`) started with uvicorn on loopback.

The browser is Debian's chromium driven by Playwright for Python. Without it these tests skip, unless
VERBATIM_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from verbatim.service.web import STATIC_DIR, router

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SHOTS = ROOT / "reports" / "screenshots"
CHROMIUM = os.environ.get("VERBATIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STEP_MS = 15_000  # the longest any single browser step may take

# The real app can take a while on first start: it ingests seeds/ (embedding on 2 CPU cores).
READY_TIMEOUT_S = float(os.environ.get("VERBATIM_WEB_READY_TIMEOUT", "240"))

EMOJI_DOC = "900_emoji.txt"
EMOJI_TEXT = (
    "Rail diary 🚂🚃🚃\n\n"
    "By Test Writer\n\n"
    "Notes with astral-plane symbols 𝒜𝒷𝒸 and flags 🇦🇲🇦🇿 come first.\n"
    "The locomotive 🚆 reached Yerevan station at dawn after 31 hours on the line.\n"
    "Nobody 🙂 on the platform had seen a train from Baku before.\n"
)


# ---------------------------------------------------------------- router alone


def test_index_and_assets_are_served() -> None:
    """GET / is the page with a strict CSP; /ui/ serves its assets and nothing else."""
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)

    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert '<script src="ui/app.js"' in page.text and 'href="ui/app.css"' in page.text

    assets = [("app.js", "text/javascript"), ("app.css", "text/css")]
    for name, kind in assets:
        asset = client.get(f"/ui/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"].startswith(kind)

    bad_paths = [
        "/ui/nope.js",
        "/ui/..%2F__init__.py",
        "/ui/__init__.py",
        "/ui/.hidden.js",
        "/ui/../__init__.py",
    ]
    for bad in bad_paths:
        assert client.get(bad).status_code == 404, bad
    assert not set(client.get("/openapi.json").json().get("paths", {})) & {"/", "/ui/{name}"}


def test_page_loads_nothing_from_elsewhere() -> None:
    """No CDN, no web fonts, no absolute URLs: the page works offline from the API alone."""
    for path in STATIC_DIR.iterdir():
        if path.suffix not in {".html", ".js", ".css"}:
            continue
        text = path.read_text(encoding="utf-8").replace("xmlns='http://www.w3.org/2000/svg'", "")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE), path.name
        assert "@import" not in text and "@font-face" not in text, path.name


# ---------------------------------------------------------------- servers


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on a free loopback port; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the stub server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ---------------------------------------------------------------- the stub API


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9’'-]+")
_STOP_WORDS = """
the a an of to in on and or for with from by at as is are was were be been what which who whom whose
when where why how did does do has have had that this these those it its into than then after before
about over under between their there they them his her he she we you your our not no can could would
should will shall may might must any all
"""
_STOP = frozenset(_STOP_WORDS.split())


def _words(text: str) -> set[str]:
    return {w.lower().strip("’'-") for w in _WORD.findall(text)} - _STOP


class StubAsk(BaseModel):
    """The DESIGN request body (plus `stream`)."""

    question: str = Field(min_length=1, max_length=2000)
    top_k: int = Field(default=5, ge=1, le=20)
    sources: list[str] | None = None
    backend: str | None = None
    stream: bool = False


class StubCorpus:
    """Seed files split into articles (heuristic) and sentences with real code point offsets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.texts: dict[str, str] = {}
        self.articles: dict[str, list[dict[str, Any]]] = {}
        self.sentences: list[tuple[str, int, int]] = []
        for path in sorted(root.glob("*.txt")):
            with path.open(encoding="utf-8", newline="") as fh:
                text = fh.read()
            self.texts[path.name] = text
            self.articles[path.name] = [self._article(text)]
            for m in re.finditer(r"[^\n.!?]+(?:[.!?]+|$)", text, re.MULTILINE):
                start = m.start() + (len(m.group()) - len(m.group().lstrip()))
                end = m.end()
                if len(text[start:end].split()) >= 4:
                    self.sentences.append((path.name, start, end))

    @staticmethod
    def _article(text: str) -> dict[str, Any]:
        """One article: from the first line that is not a ticker bullet to the end of the file."""
        start = 0
        for line in text.splitlines(keepends=True):
            if line.strip() and not line.lstrip().startswith("•"):
                break
            start += len(line)
        title = text[start:].split("\n", 1)[0].strip()[:120]
        byline = re.search(r"^By ([A-Z][\w.’'-]*(?: [A-Z][\w.’'-]*){0,3})\s*$", text, re.MULTILINE)
        return {
            "title": title,
            "author": byline.group(1) if byline else None,
            "date": None,
            "start": start,
            "end": len(text),
        }

    def title_at(self, source: str, offset: int) -> str:
        for art in self.articles[source]:
            if art["start"] <= offset < art["end"]:
                return str(art["title"])
        return source

    def answer(self, req: StubAsk) -> dict[str, Any]:
        """Word-overlap retrieval; abstain when nothing shares at least two content words."""
        q = _words(req.question)
        scored = []
        for source, start, end in self.sentences:
            if req.sources and source not in req.sources:
                continue
            overlap = len(q & _words(self.texts[source][start:end]))
            scored.append((overlap, -start, source, start, end))
        scored.sort(reverse=True)
        top = scored[: req.top_k]
        passages = []
        for overlap, _, source, start, end in top:
            text = self.texts[source]
            p_start = text.rfind("\n", 0, start) + 1
            p_end = text.find("\n", end)
            p_end = len(text) if p_end < 0 else p_end
            passages.append(
                {
                    "chunk_id": f"{source}:{p_start}",
                    "source": source,
                    "title": self.title_at(source, start),
                    "start": p_start,
                    "end": p_end,
                    "text": text[p_start:p_end],
                    "score": overlap / max(1, len(q)),
                }
            )
        good = [t for t in top if t[0] >= 2][:2]
        if not good:
            return {
                "answer": "The documents do not say.",
                "abstained": True,
                "backend": "extractive",
                "citations": [],
                "passages": passages[:3],
                "timings_ms": {"retrieve": 1.0, "answer": 0.1, "total": 1.1},
            }
        citations = []
        for n, (overlap, _, source, start, end) in enumerate(good, 1):
            citations.append(
                {
                    "n": n,
                    "source": source,
                    "title": self.title_at(source, start),
                    "quote": self.texts[source][start:end],
                    "start": start,
                    "end": end,
                    "chunk_id": f"{source}:{start}",
                    "score": overlap / max(1, len(q)),
                }
            )
        answer = " ".join(f"“{c['quote']}” [{c['n']}]" for c in citations)
        return {
            "answer": answer,
            "abstained": False,
            "backend": "extractive",
            "citations": citations,
            "passages": passages,
            "timings_ms": {"retrieve": 2.0, "answer": 0.5, "total": 2.5},
        }


def stub_app(corpus_root: Path) -> FastAPI:
    """A FastAPI app with the web router and DESIGN-shaped stand-ins for the API it uses."""
    corpus = StubCorpus(corpus_root)
    app = FastAPI()
    app.include_router(router)

    @app.post("/ask", response_model=None)
    async def ask(req: StubAsk) -> JSONResponse | StreamingResponse:
        body = corpus.answer(req)
        if not (req.stream and req.question.lower().startswith("stream")):
            return JSONResponse(body)

        async def events() -> Any:
            words = re.findall(r"\S+\s*", body["answer"])
            for i in range(0, len(words), 3):
                yield f"event: delta\ndata: {json.dumps({'text': ''.join(words[i : i + 3])})}\n\n"
                await asyncio.sleep(0.12)
            yield f"event: final\ndata: {json.dumps({**body, 'backend': 'llm'})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/documents")
    def documents() -> dict[str, Any]:
        return {"documents": [{"source": s, "articles": corpus.articles[s]} for s in corpus.texts]}

    @app.get("/documents/{source:path}")
    def document(source: str, start: int | None = None, end: int | None = None) -> dict[str, Any]:
        if source not in corpus.texts:
            raise HTTPException(404, f"no such document: {source}")
        text = corpus.texts[source]
        out: dict[str, Any] = {"source": source, "articles": corpus.articles[source], "text": text}
        if start is not None and end is not None:
            out["span"] = {"start": start, "end": end, "text": text[start:end]}
        return out

    @app.get("/readyz")
    def readyz() -> dict[str, Any]:
        return {"ready": True, "chunks": len(corpus.sentences)}

    return app


@pytest.fixture(scope="module")
def stub_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed files plus one document full of characters outside the BMP."""
    root = tmp_path_factory.mktemp("corpus")
    for path in SEEDS.glob("*.txt"):
        shutil.copyfile(path, root / path.name)
    (root / EMOJI_DOC).write_bytes(EMOJI_TEXT.encode("utf-8"))
    return root


@pytest.fixture(scope="module")
def stub_url(stub_corpus: Path) -> Iterator[str]:
    """Base URL of the stub API serving the page."""
    with serve_in_thread(stub_app(stub_corpus)) as url:
        yield url


# ---------------------------------------------------------------- the browser


def _require_browser() -> None:
    required = os.environ.get("VERBATIM_REQUIRE_BROWSER") == "1"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        if required:
            pytest.fail(f"no browser at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def open_page(browser: Any, url: str, viewport: dict[str, int] = DESKTOP) -> Iterator[Any]:
    """A fresh context and page at `url`; JavaScript errors fail the test."""
    phone = viewport["width"] < 600  # touch, overlay scrollbars and a crisper screenshot, like a phone
    context = browser.new_context(
        viewport=viewport,
        reduced_motion="reduce",
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
    )
    context.set_default_timeout(STEP_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(url)
        yield page
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        context.close()


def ask(page: Any, question: str) -> None:
    """Type a question and press Enter (the keyboard path)."""
    box = page.locator("#question")
    box.fill(question)
    box.press("Enter")


def shoot(page: Any, name: str) -> Path:
    """Save a screenshot under reports/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path))
    return path


def check_citation_highlight(page: Any, n: int = 1) -> dict[str, Any]:
    """Click citation n; the highlighted element in the panel is exactly its quote. Returns the citation."""
    from playwright.sync_api import expect

    response = page.evaluate("window.verbatim.lastResponse()")
    cite = next(c for c in response["citations"] if c["n"] == n)
    page.locator(f"#cite-{n} .cite-open").click()
    mark = page.locator("#panel mark#highlight")
    expect(mark).to_be_visible()
    assert mark.text_content() == cite["quote"]
    assert mark.evaluate("m => getComputedStyle(m).display") == "inline"
    expect(page.locator("#panel-sub")).to_contain_text(cite["source"])
    assert page.locator("#panel .mismatch").count() == 0
    # The highlight was scrolled into view inside the panel.
    assert mark.evaluate(
        """m => { const r = m.getBoundingClientRect();
                  const p = document.getElementById('panel-body').getBoundingClientRect();
                  return r.bottom > p.top && r.top < p.bottom; }"""
    )
    return cite


# ---------------------------------------------------------------- the page against the stub


@pytest.mark.timeout(90)
def test_ask_answer_quotes_and_highlight(browser: Any, stub_url: str) -> None:
    """Enter asks; the answer, numbered quotes with title and source; a citation opens highlighted."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url) as page:
        expect(page.locator("#question")).to_be_focused()
        form_box = page.locator("#ask-form").bounding_box()
        result_top = page.locator("#result").bounding_box()["y"]
        ask(page, "How many tons of wheat from Kazakhstan arrived in Armenia?")
        expect(page.locator("#answer")).to_be_visible()
        expect(page.locator("#answer-heading")).to_have_text("Answer")
        expect(page.locator("#answer-heading")).to_be_focused()
        quote = page.locator("#cite-1")
        expect(quote.locator("blockquote")).to_contain_text("1,000 tons of wheat from Kazakhstan")
        expect(quote.locator(".cite-open")).to_have_text("Armenia and Azerbaijan edge closer to peace")
        expect(quote.locator(".source")).to_contain_text("000_471aab2a35820a5e.txt")
        # No layout jump: the question box and the answer area did not move.
        assert page.locator("#ask-form").bounding_box() == form_box
        assert page.locator("#result").bounding_box()["y"] == result_top
        assert "q=" in page.url

        page.locator("#cite-1 .cite-open").scroll_into_view_if_needed()
        page_y = page.evaluate("window.scrollY")
        cite = check_citation_highlight(page, 1)
        assert page.evaluate("window.scrollY") == page_y  # only the panel scrolled, not the page
        raw = (SEEDS / cite["source"]).read_text(encoding="utf-8")
        assert raw[cite["start"] : cite["end"]] == cite["quote"]
        expect(page.locator("#panel-title")).to_be_focused()

        # Escape closes the panel and gives focus back to the citation that opened it.
        page.keyboard.press("Escape")
        expect(page.locator("#doc")).to_be_hidden()
        expect(page.locator("#cite-1 .cite-open")).to_be_focused()

        # The [1] marker in the answer opens the same span.
        page.locator("#answer-text .ref").first.click()
        assert page.locator("mark#highlight").text_content() == cite["quote"]


@pytest.mark.timeout(60)
def test_offsets_are_code_points_not_utf16(browser: Any, stub_url: str) -> None:
    """Characters outside the BMP before the quote: the highlight is still exactly the quote."""
    with open_page(browser, stub_url) as page:
        ask(page, "When did the locomotive reach Yerevan station?")
        page.locator("#cite-1").wait_for()
        cite = check_citation_highlight(page, 1)
        assert cite["source"] == EMOJI_DOC
        assert cite["quote"].startswith("The locomotive 🚆 reached Yerevan")
        assert EMOJI_TEXT[cite["start"] : cite["end"]] == cite["quote"]
        assert len(EMOJI_TEXT.encode("utf-16-le")) // 2 > len(EMOJI_TEXT)  # the test means something


@pytest.mark.timeout(60)
def test_abstention_shows_closest_passages(browser: Any, stub_url: str) -> None:
    """An unanswerable question is shown as an abstention, with the closest passages."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url) as page:
        ask(page, "Recipe for chocolate soufflé?")
        answer = page.locator("#answer")
        expect(answer).to_have_attribute("data-abstained", "true")
        expect(page.locator("#answer-heading")).to_have_text("Not found in the documents")
        expect(page.locator("#status")).to_have_text("The documents do not answer this question.")
        expect(page.locator("#quotes")).to_have_count(0)
        expect(page.locator("#passages > li").first).to_be_visible()
        # A closest passage opens in context too.
        page.locator("#passages > li .cite-open").first.click()
        expect(page.locator("mark#highlight.hl-passage")).to_be_visible()


@pytest.mark.timeout(60)
def test_client_error_message_is_shown(browser: Any, stub_url: str) -> None:
    """A 4xx from the API shows its message; an empty box asks for a question without a request."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url) as page:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url) if r.url.endswith("/ask") else None)
        page.locator("#question").press("Enter")
        expect(page.locator("#status")).to_have_text("Type a question first.")
        assert requests == []

        ask(page, "x" * 2001)
        expect(page.locator("#count")).to_have_class(re.compile(r"\bover\b"))
        error = page.locator("#error")
        expect(error).to_be_visible()
        expect(error).to_have_attribute("role", "alert")
        expect(error).to_contain_text("question: String should have at most 2000 characters")


@pytest.mark.timeout(60)
def test_unavailable_and_rate_limited_are_explained(browser: Any, stub_url: str) -> None:
    """503 is explained in plain words; 429 says when to retry."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url) as page:
        page.route(
            "**/ask",
            lambda route: route.fulfill(
                status=503, content_type="application/json", body=json.dumps({"detail": "index unreachable"})
            ),
        )
        ask(page, "Who lifted the transit ban?")
        error = page.locator("#error")
        expect(error).to_contain_text("Not available right now")
        expect(error).to_contain_text("can't answer right now (503)")
        expect(error).to_contain_text("index unreachable")
        page.unroute("**/ask")

        page.route(
            "**/ask",
            lambda route: route.fulfill(
                status=429,
                headers={"Retry-After": "17"},
                content_type="application/json",
                body=json.dumps({"detail": "rate limit exceeded: 100/minute"}),
            ),
        )
        ask(page, "Who lifted the transit ban?")
        expect(error).to_contain_text("Too many requests (429). Try again in 17 s.")
        expect(error).to_contain_text("rate limit exceeded: 100/minute")


@pytest.mark.timeout(60)
def test_api_key_prompt_and_bearer_token(browser: Any, stub_url: str) -> None:
    """A 401 opens the key field; the saved key goes to sessionStorage and out as a bearer token."""
    from playwright.sync_api import expect

    seen: list[str | None] = []

    def guard(route: Any) -> None:
        auth = route.request.headers.get("authorization")
        seen.append(auth)
        if auth != "Bearer s3cret":
            route.fulfill(
                status=401,
                content_type="application/json",
                body=json.dumps({"detail": "missing or invalid API key"}),
            )
        else:
            route.continue_()

    with open_page(browser, stub_url) as page:
        page.route("**/ask", guard)
        ask(page, "How many tons of wheat from Kazakhstan arrived in Armenia?")
        expect(page.locator("#key-box")).to_have_attribute("open", "")
        expect(page.locator("#key-input")).to_be_focused()
        expect(page.locator("#error")).to_contain_text("missing or invalid API key")
        page.locator("#key-input").fill("s3cret")
        page.locator("#key-input").press("Enter")  # saves, and asks again
        expect(page.locator("#cite-1")).to_be_visible()
        assert seen == [None, "Bearer s3cret"]
        assert page.evaluate("sessionStorage.getItem('verbatim.apiKey')") == "s3cret"
        expect(page.locator("#key-state")).to_have_text("API key ✓")
        # The key also goes with document requests.
        with page.expect_request("**/documents/**") as req:
            page.locator("#cite-1 .cite-open").click()
        assert req.value.headers.get("authorization") == "Bearer s3cret"


@pytest.mark.timeout(60)
def test_streaming_answer(browser: Any, stub_url: str) -> None:
    """Server-sent events: the text appears while it streams, then the full answer with its quotes."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url) as page:
        with page.expect_request("**/ask") as req:
            ask(page, "Stream: how many tons of wheat from Kazakhstan arrived in Armenia?")
        assert json.loads(req.value.post_data)["stream"] is True
        expect(page.locator(".answer-text.streaming")).to_be_visible()
        expect(page.locator("#status")).to_have_text("Writing the answer…")
        expect(page.locator("#cite-1")).to_be_visible()
        expect(page.locator("#answer .meta")).to_contain_text("llm backend")
        final = page.evaluate("window.verbatim.lastResponse()")
        assert page.locator("#answer-text").text_content() == final["answer"]
        check_citation_highlight(page, 1)


@pytest.mark.timeout(60)
def test_stream_refused_falls_back_to_json(browser: Any, stub_url: str) -> None:
    """A server that rejects the `stream` field gets the question again without it."""
    from playwright.sync_api import expect

    bodies: list[dict[str, Any]] = []

    def strict(route: Any) -> None:
        body = json.loads(route.request.post_data)
        bodies.append(body)
        if "stream" in body:
            route.fulfill(
                status=422,
                content_type="application/json",
                body=json.dumps(
                    {"detail": [{"loc": ["body", "stream"], "msg": "Extra inputs are not permitted"}]}
                ),
            )
        else:
            route.continue_()

    with open_page(browser, stub_url) as page:
        page.route("**/ask", strict)
        ask(page, "How many tons of wheat from Kazakhstan arrived in Armenia?")
        expect(page.locator("#cite-1")).to_be_visible()
        assert ["stream" in b for b in bodies] == [True, False]


@pytest.mark.timeout(60)
def test_empty_index_and_network_failure(browser: Any, stub_url: str) -> None:
    """No passages at all is shown as an empty result; an unreachable server is explained."""
    from playwright.sync_api import expect

    empty = {
        "answer": "",
        "abstained": False,
        "backend": "extractive",
        "citations": [],
        "passages": [],
        "timings_ms": {"total": 1.0},
    }
    with open_page(browser, stub_url) as page:
        page.route(
            "**/ask",
            lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(empty)),
        )
        ask(page, "Anything at all?")
        expect(page.locator("#empty-msg")).to_contain_text("No passages matched")
        page.unroute("**/ask")
        page.route("**/ask", lambda route: route.abort("connectionrefused"))
        ask(page, "Anything at all?")
        expect(page.locator("#error")).to_contain_text("Could not reach the Verbatim server")


@pytest.mark.timeout(60)
def test_browse_documents_and_articles(browser: Any, stub_url: str) -> None:
    """The browse view lists documents and articles; an article opens highlighted; the filter filters."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url + "/#browse") as page:
        items = page.locator("#doc-list > li.doc-item")
        expect(items).to_have_count(6)
        expect(page.locator("#browse-status")).to_contain_text("6 documents")
        doc = page.locator('li.doc-item[data-source="004_fb0761cbcaf37eb0.txt"]')
        expect(doc.locator(".articles .byline").first).to_have_text("Robert M. Cutler")
        doc.locator(".articles .cite-open").first.click()
        mark = page.locator("mark#highlight.hl-article")
        expect(mark).to_be_visible()
        text = (SEEDS / "004_fb0761cbcaf37eb0.txt").read_text(encoding="utf-8")
        assert text.endswith(mark.text_content())

        # The ticker lines outside the article of document 003 are shown greyed, marked as not indexed.
        page.locator('li.doc-item[data-source="003_2965303afe5faa20.txt"] button.open-doc').click()
        expect(page.locator("#doc .outside").first).to_contain_text("KGS/USD")
        expect(page.locator("#panel-sub")).to_contain_text("greyed text was not indexed")

        page.locator("#filter").fill("cutler")
        expect(page.locator("#doc-list > li.doc-item:visible")).to_have_count(1)
        page.locator("#filter").fill("")
        expect(page.locator("#doc-list > li.doc-item:visible")).to_have_count(6)

        # Keyboard: "/" goes back to the question box.
        page.locator("#browse-heading").focus()
        page.keyboard.press("/")
        expect(page.locator("#question")).to_be_focused()
        expect(page.locator("#view-ask")).to_be_visible()


@pytest.mark.timeout(60)
def test_phone_layout(browser: Any, stub_url: str) -> None:
    """At phone width nothing overflows sideways and the document panel covers the screen."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url, viewport=PHONE) as page:
        expect(page.locator("#panel")).to_be_hidden()
        ask(page, "How many tons of wheat from Kazakhstan arrived in Armenia?")
        expect(page.locator("#cite-1")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        check_citation_highlight(page, 1)
        # The page behind the covering panel is inert: Tab stays in the panel.
        assert page.evaluate("document.getElementById('main').inert") is True
        expect(page.locator("#panel")).to_have_attribute("aria-modal", "true")
        box = page.locator("#panel").bounding_box()
        # Full width, less at most a classic scrollbar gutter (phones overlay their scrollbars).
        assert box["x"] == 0 and box["width"] >= PHONE["width"] - 20
        page.locator("#panel-close").click()
        expect(page.locator("#panel")).to_be_hidden()
        expect(page.locator("#cite-1 .cite-open")).to_be_focused()
        assert page.evaluate("document.getElementById('main').inert") is False


@pytest.mark.timeout(120)
def test_accessibility_audit(browser: Any, stub_url: str) -> None:
    """axe-core finds no violations (contrast included) in each state, light and dark, desktop and phone."""
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python")
    axe = axe_module.Axe()

    def audit(page: Any, label: str) -> None:
        violations = axe.run(page).response["violations"]
        assert not violations, (label, [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in violations])

    for scheme in ("light", "dark"):
        for viewport in (DESKTOP, PHONE):
            with open_page(browser, stub_url, viewport=viewport) as page:
                page.emulate_media(color_scheme=scheme)
                label = f"{scheme} {viewport['width']}px"
                audit(page, f"{label} start")
                ask(page, "How many tons of wheat from Kazakhstan arrived in Armenia?")
                page.locator("#cite-1").wait_for()
                page.locator("details.more summary").click()
                audit(page, f"{label} answer")
                page.locator("#cite-1 .cite-open").click()
                page.locator("mark#highlight").wait_for()
                audit(page, f"{label} document")
                page.keyboard.press("Escape")
                ask(page, "Recipe for chocolate soufflé?")
                page.locator(".answer.abstained").wait_for()
                audit(page, f"{label} abstained")
                ask(page, "x" * 2001)
                page.locator("#error").wait_for()
                audit(page, f"{label} error")
                page.locator("#tab-browse").click()
                page.locator(".doc-item").first.wait_for()
                page.locator("#key-box summary").click()
                audit(page, f"{label} browse")


# ---------------------------------------------------------------- end to end, the real API


def _real_app_available() -> bool:
    return (ROOT / "service" / "app.py").exists()


@contextlib.contextmanager
def real_api(data_dir: Path, **settings: Any) -> Iterator[str]:
    """Run the real Verbatim API (service.app:create_app) with uvicorn on loopback until /readyz is 200."""
    if not _real_app_available():
        pytest.skip("service/app.py does not exist yet")
    _require_browser()
    log_path = data_dir / "server.log"
    port = free_port()
    code = (
        "import json, sys, uvicorn\n"
        "from starlette.routing import NoMatchFound\n"
        "from service.app import create_app\n"
        "from service.web import router\n"
        "from verbatim.settings import Settings\n"
        "extra = json.loads(sys.argv[4])\n"
        "app = create_app(Settings(data_dir=sys.argv[1], corpus_dir=sys.argv[2], **extra))\n"
        "try:\n"
        "    app.url_path_for('web_index')\n"
        "except NoMatchFound:  # until create_app includes the web router itself\n"
        "    app.include_router(router)\n"
        "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[3]), log_level='warning')\n"
    )
    # Open, unlimited, extractive, embedded index unless `settings` says otherwise, whatever the environment.
    names = [
        "API_KEYS",
        "RATE_LIMIT",
        "DATA_DIR",
        "CORPUS_DIR",
        "CHROMA_URL",
        "LLM_URL",
        "LLM_MODEL",
        "LLM_API_KEY",
    ]
    unset = {f"VERBATIM_{name}" for name in names}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    keys = str(settings.get("api_keys") or "").split(",")
    headers = {"Authorization": f"Bearer {keys[0]}"} if keys[0] else {}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(data_dir), str(SEEDS), str(port), json.dumps(settings)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                log_tail = log_path.read_text(errors="replace")[-4000:]
                pytest.fail(f"the API exited ({proc.returncode}):\n{log_tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", headers=headers, timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"/readyz not 200 after {READY_TIMEOUT_S:.0f} s:\n"
                    f"{log_path.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def real_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real API, open (no keys), ingested from seeds/ and ready."""
    with real_api(tmp_path_factory.mktemp("data")) as url:
        yield url


@pytest.mark.timeout(READY_TIMEOUT_S + 120)
def test_e2e_answer_citation_highlight_and_screenshots(browser: Any, real_url: str) -> None:
    """Against the real API: ask about the seeds, see the answer and quotes, open a citation highlighted."""
    from playwright.sync_api import expect

    question = "Who is lifting all restrictions on the transit of goods to Armenia?"
    with open_page(browser, real_url) as page:
        ask(page, question)
        expect(page.locator("#answer")).to_be_visible(timeout=60_000)
        expect(page.locator("#answer")).to_have_attribute("data-abstained", "false")
        expect(page.locator("#quotes > li").first).to_be_visible()
        response = page.evaluate("window.verbatim.lastResponse()")
        assert response["citations"], response
        for c in response["citations"]:
            raw = (SEEDS / c["source"]).open(encoding="utf-8", newline="").read()
            assert raw[c["start"] : c["end"]] == c["quote"]  # the offset invariant, as the page reads it
            item = page.locator(f"#cite-{c['n']}")
            expect(item.locator("blockquote")).to_have_text(c["quote"])
            expect(item.locator(".source")).to_contain_text(c["source"])
            expect(item.locator(".cite-open")).to_have_text(c["title"] or c["source"])
        check_citation_highlight(page, response["citations"][0]["n"])
        shoot(page, "desktop.png")

    with open_page(browser, real_url, viewport=PHONE) as page:
        ask(page, question)
        expect(page.locator("#quotes > li").first).to_be_visible(timeout=60_000)
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shoot(page, "phone.png")
        check_citation_highlight(page, page.evaluate("window.verbatim.lastResponse()")["citations"][0]["n"])
        shoot(page, "phone-document.png")


@pytest.mark.timeout(180)
def test_e2e_abstention(browser: Any, real_url: str) -> None:
    """Against the real API: a question the seeds cannot answer is shown as an abstention."""
    from playwright.sync_api import expect

    with open_page(browser, real_url) as page:
        ask(page, "What is the boiling point of liquid nitrogen on Mars?")
        expect(page.locator("#answer")).to_have_attribute("data-abstained", "true", timeout=60_000)
        expect(page.locator("#answer-heading")).to_have_text("Not found in the documents")
        expect(page.locator("#quotes")).to_have_count(0)
        shoot(page, "desktop-abstained.png")


@pytest.mark.timeout(180)
def test_e2e_client_error(browser: Any, real_url: str) -> None:
    """Against the real API: a 4xx shows the server's own message."""
    from playwright.sync_api import expect

    too_long = "Why? " * 401
    reply = httpx.post(f"{real_url}/ask", json={"question": too_long}, timeout=30)
    assert 400 <= reply.status_code < 500, reply.text
    detail = reply.json()["detail"]
    with open_page(browser, real_url) as page:
        ask(page, too_long)
        error = page.locator("#error")
        expect(error).to_be_visible(timeout=30_000)
        if isinstance(detail, str):
            expect(error).to_contain_text(detail)
        else:
            expect(error).to_contain_text(str(detail[0]["msg"]))


@pytest.mark.timeout(180)
def test_e2e_browse(browser: Any, real_url: str) -> None:
    """Against the real API: the browse view lists every seed file; an article opens highlighted."""
    from playwright.sync_api import expect

    listing = httpx.get(f"{real_url}/documents", timeout=30).json()["documents"]
    assert {d["source"] for d in listing} == {p.name for p in SEEDS.glob("*.txt")}
    with open_page(browser, real_url + "/#browse") as page:
        expect(page.locator("#doc-list > li.doc-item")).to_have_count(len(listing))
        first = next(d for d in listing if d["articles"])
        article = first["articles"][0]
        item = page.locator(f'li.doc-item[data-source="{first["source"]}"]')
        item.locator(".articles .cite-open").first.click()
        mark = page.locator("mark#highlight.hl-article")
        expect(mark).to_be_visible()
        raw = (SEEDS / first["source"]).open(encoding="utf-8", newline="").read()
        assert mark.text_content() == raw[article["start"] : article["end"]]
        shoot(page, "desktop-browse.png")


@pytest.mark.timeout(READY_TIMEOUT_S + 120)
def test_e2e_api_keys(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Against the real API with keys: the page loads without one; a 401 asks for it; the key then works."""
    from playwright.sync_api import expect

    keyed = real_api(tmp_path_factory.mktemp("data-keys"), api_keys="web-key-1,web-key-2")
    with keyed as url, open_page(browser, url) as page:
        ask(page, "How much Kazakh wheat reached Armenia over the new rail route?")
        expect(page.locator("#key-input")).to_be_focused(timeout=30_000)
        expect(page.locator("#error")).to_contain_text("(401)")
        page.locator("#key-input").fill("wrong-key")
        page.locator("#key-input").press("Enter")
        expect(page.locator("#key-msg")).to_contain_text("That API key was refused")
        page.locator("#key-input").fill("web-key-2")
        page.locator("#key-input").press("Enter")
        expect(page.locator("#quotes > li").first).to_be_visible(timeout=60_000)
        check_citation_highlight(page, page.evaluate("window.verbatim.lastResponse()")["citations"][0]["n"])
        page.locator("#tab-browse").click()
        expect(page.locator("#doc-list > li.doc-item")).to_have_count(len(list(SEEDS.glob("*.txt"))))
