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
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from verbatim.service.bot.blocks import citation_url
from verbatim.service.web import STATIC_DIR, PageLinks, docs_router, page_link, router
from verbatim.service.web.links import prefers_html

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
        for path in sorted(root.rglob("*")):
            if path.suffix in STUB_FORMATS:
                self.add(path.relative_to(root).as_posix())

    def add(self, source: str) -> str:
        """Index one file under the root; returns its outcome (indexed or unchanged)."""
        with (self.root / source).open(encoding="utf-8", newline="") as fh:
            text = fh.read()
        if self.texts.get(source) == text:
            return "unchanged"
        self.remove(source)
        self.texts[source] = text
        self.articles[source] = [self._article(text)]
        for m in re.finditer(r"[^\n.!?]+(?:[.!?]+|$)", text, re.MULTILINE):
            start = m.start() + (len(m.group()) - len(m.group().lstrip()))
            end = m.end()
            if len(text[start:end].split()) >= 4:
                self.sentences.append((source, start, end))
        return "indexed"

    def remove(self, source: str) -> None:
        self.texts.pop(source, None)
        self.articles.pop(source, None)
        self.sentences = [t for t in self.sentences if t[0] != source]

    def summary(self, source: str) -> dict[str, Any]:
        out: dict[str, Any] = {"source": source, "articles": self.articles[source]}
        if source.endswith(".md"):
            out["format"] = "markdown"
            out["sections"] = [{"path": [h]} for h in self.headings(source)]
        return out

    def headings(self, source: str) -> list[str]:
        return [m.group(1) for m in re.finditer(r"^#{1,6} +(.+)$", self.texts[source], re.MULTILINE)]

    def section_at(self, source: str, offset: int) -> list[str]:
        """[title] plus the last Markdown heading before `offset` (when it is not the title)."""
        title = self.title_at(source, offset)
        before = [
            m.group(1) for m in re.finditer(r"^#{1,6} +(.+)$", self.texts[source][:offset], re.MULTILINE)
        ]
        return [title] + ([before[-1]] if before and before[-1] != title else [])

    def highlights(self, source: str, start: int, end: int) -> list[dict[str, int]]:
        """The first number in the quote, as the asked-for value (offsets into the document)."""
        m = re.search(r"\d[\d,.]*\d|\d", self.texts[source][start:end])
        return [{"start": start + m.start(), "end": start + m.end()}] if m else []

    @staticmethod
    def _article(text: str) -> dict[str, Any]:
        """One article: from the first line that is not a ticker bullet to the end of the file."""
        start = 0
        for line in text.splitlines(keepends=True):
            if line.strip() and not line.lstrip().startswith("•"):
                break
            start += len(line)
        title = text[start:].split("\n", 1)[0].strip().lstrip("# ")[:120]
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
                    "section": self.section_at(source, start),
                    "page": None,
                    "quote": self.texts[source][start:end],
                    "start": start,
                    "end": end,
                    "highlights": self.highlights(source, start, end),
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
    app = FastAPI(docs_url=None, redoc_url=None)
    app.include_router(router)
    app.include_router(docs_router)
    app.add_middleware(PageLinks)

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
        return {"documents": [corpus.summary(s) for s in sorted(corpus.texts)]}

    @app.get("/documents/{source:path}")
    def document(source: str, start: int | None = None, end: int | None = None) -> dict[str, Any]:
        if source not in corpus.texts:
            raise HTTPException(404, f"no such document: {source}")
        text = corpus.texts[source]
        out: dict[str, Any] = {**corpus.summary(source), "text": text}
        if start is not None and end is not None:
            out["span"] = {"start": start, "end": end, "text": text[start:end]}
        return out

    jobs: dict[str, dict[str, Any]] = {}

    @app.post("/documents", status_code=202)
    async def upload(
        files: Annotated[list[UploadFile], File()],
        folder: Annotated[str, Form()] = "uploads",
        overwrite: Annotated[bool, Form()] = False,
    ) -> dict[str, Any]:
        """DESIGN's POST /documents: 413 over the size limit, 415 for an unknown suffix, 202 with a job."""
        stored = []
        for f in files:
            name = Path(f.filename or "").name
            suffix = Path(name).suffix
            if suffix not in STUB_FORMATS:
                raise HTTPException(
                    415, f"unsupported format {suffix or '(none)'} of {name}; supported: .md, .txt"
                )
            data = await f.read()
            if len(data) > STUB_MAX_UPLOAD:
                raise HTTPException(
                    413, f"{name} is {len(data)} bytes; VERBATIM_MAX_UPLOAD_BYTES is {STUB_MAX_UPLOAD}"
                )
            source = f"{folder.strip('/')}/{name}"
            target = corpus.root / source
            if target.exists() and not overwrite and target.read_bytes() != data:
                raise HTTPException(409, f"{source} exists; set overwrite to replace it")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            stored.append({"name": name, "source": source})
        job = f"job{len(jobs) + 1}"
        jobs[job] = {"files": stored, "polls": 0}
        return {"job": job, "files": stored}

    @app.get("/jobs/{job}")
    def job_state(job: str) -> dict[str, Any]:
        """The first poll says running (so the page shows it), the next one indexes and says done."""
        if job not in jobs:
            raise HTTPException(404, f"no such job: {job}")
        state = jobs[job]
        state["polls"] += 1
        total = len(state["files"])
        if state["polls"] == 1:
            return {"state": "running", "done": 0, "total": total, "files": []}
        if "outcomes" not in state:
            state["outcomes"] = []
            for f in state["files"]:
                text = (corpus.root / f["source"]).read_text(encoding="utf-8", errors="replace")
                if not text.strip():
                    state["outcomes"].append(
                        {"source": f["source"], "outcome": "skipped", "reason": "empty file"}
                    )
                else:
                    state["outcomes"].append(
                        {"source": f["source"], "outcome": corpus.add(f["source"]), "reason": None}
                    )
        return {"state": "done", "done": total, "total": total, "files": state["outcomes"]}

    @app.delete("/documents/{source:path}")
    def delete(source: str) -> dict[str, Any]:
        if source not in corpus.texts:
            raise HTTPException(404, f"no such document: {source}")
        corpus.remove(source)
        (corpus.root / source).unlink(missing_ok=True)
        return {"deleted": source}

    @app.get("/readyz")
    def readyz() -> dict[str, Any]:
        return {"ready": True, "chunks": len(corpus.sentences)}

    return app


STUB_FORMATS = frozenset({".txt", ".md"})
STUB_MAX_UPLOAD = 50_000


@pytest.fixture
def fresh_stub(tmp_path: Path) -> Iterator[str]:
    """A stub API of its own (uploads and deletes change its corpus), over a copy of the seeds."""
    for path in SEEDS.glob("*.txt"):
        shutil.copyfile(path, tmp_path / path.name)
    with serve_in_thread(stub_app(tmp_path)) as url:
        yield url


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


def shoot(page: Any, name: str, docs: str | None = None) -> Path:
    """Save a screenshot under reports/screenshots/ (and as docs/`docs` for the documentation)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path))
    if docs:
        shutil.copyfile(path, ROOT / "docs" / docs)
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
                page.locator("#upload").wait_for()
                audit(page, f"{label} browse")


# ---------------------------------------------------------------- links, offline docs (no browser)


def test_page_links_and_browser_redirect() -> None:
    """Chat links and browsers following /documents/ links land on the page route; API clients get JSON."""
    assert (
        page_link("http://h:8000/", "sub dir/é.md", 3, 9)
        == "http://h:8000/#/doc/sub%20dir/%C3%A9.md?start=3&end=9"
    )
    assert citation_url("http://h:8000", "sub dir/é.md", 3, 9) == page_link(
        "http://h:8000", "sub dir/é.md", 3, 9
    )
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert prefers_html(browser_accept)
    assert not prefers_html("application/json") and not prefers_html("*/*") and not prefers_html("")
    assert not prefers_html("application/json, text/html;q=0.5")

    app = FastAPI()

    @app.get("/documents/{source:path}")
    def document(source: str) -> dict[str, str]:
        return {"source": source}

    app.add_middleware(PageLinks)
    client = TestClient(app, follow_redirects=False)
    moved = client.get("/documents/a%20b/c.md?start=5&end=9", headers={"Accept": browser_accept})
    assert moved.status_code == 303
    assert moved.headers["location"] == "/#/doc/a%20b/c.md?start=5&end=9"
    whole = client.get("/documents/x.txt?start=9&end=2", headers={"Accept": browser_accept})
    assert whole.headers["location"] == "/#/doc/x.txt"  # a nonsensical span is dropped, not passed on
    for accept in ("application/json", "*/*"):
        reply = client.get("/documents/a%20b/c.md?start=5&end=9", headers={"Accept": accept})
        assert reply.status_code == 200 and reply.json() == {"source": "a b/c.md"}


def test_docs_and_redoc_use_local_assets() -> None:
    """/docs and /redoc reference only /ui/vendor/ files, which are served (offline API docs)."""
    app = FastAPI(docs_url=None, redoc_url=None)
    app.include_router(docs_router)
    client = TestClient(app)
    for path, assets in (
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]),
        ("/redoc", ["redoc.standalone.js"]),
    ):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert not re.findall(r"(?:src|href)=[\"']https?://", page.text), path
        assert "fonts.googleapis" not in page.text
        for name in assets:
            assert f"/ui/vendor/{name}" in page.text
            asset = client.get(f"/ui/vendor/{name}")
            assert asset.status_code == 200 and len(asset.content) > 10_000, name
    assert '"validatorUrl": null' in client.get("/docs").text
    assert "connect-src 'self'" in client.get("/redoc").headers["content-security-policy"]
    assert client.get("/ui/vendor/../__init__.py").status_code == 404
    assert client.get("/ui/vendor/core.py").status_code == 404


# ---------------------------------------------------------------- upload, delete, links (browser)


LIGHTHOUSE_MD = """# Lighthouse keeping handbook

The **Skerry Light** was built in 1874 by the [Northern Board](https://example.org/board).
<img src="lamp.png" alt="lamp">

## Lamp maintenance

- The keeper must trim the wick every 4 hours during the night.
- The lens is cleaned with *alcohol* each morning, using `soft cloth` only.

```sh
lamp --trim
```
"""


@contextlib.contextmanager
def offline(page: Any) -> Iterator[list[str]]:
    """Abort and record every request that would leave 127.0.0.1; the list must stay empty."""
    from urllib.parse import urlparse

    left: list[str] = []

    def guard(route: Any) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort("internetdisconnected")

    page.context.route("**/*", guard)
    yield left
    assert left == [], f"requests left 127.0.0.1: {left}"


def upload(page: Any, files: list[tuple[str, str, bytes]]) -> None:
    """Choose files in the upload area's file picker."""
    page.locator("#upload-input").set_input_files(
        [{"name": name, "mimeType": kind, "buffer": data} for name, kind, data in files]
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_upload_ask_and_highlight_offline(browser: Any, fresh_stub: str, viewport: dict[str, int]) -> None:
    """Upload several files (one refused 415, one 413) → per-file outcomes → ask → citation highlighted,
    with the value in bold and the Markdown rendered; nothing is requested beyond 127.0.0.1."""
    from playwright.sync_api import expect

    with open_page(browser, fresh_stub + "/#browse", viewport=viewport) as page, offline(page):
        expect(page.locator("#doc-list > li.doc-item")).to_have_count(5)
        upload(
            page,
            [
                ("lighthouse.md", "text/markdown", LIGHTHOUSE_MD.encode()),
                ("tool.exe", "application/octet-stream", b"MZ\x00\x01"),
                ("huge.txt", "text/plain", b"word " * 20_000),
                ("empty.txt", "text/plain", b"  \n"),
            ],
        )
        items = page.locator("#upload-list > li")
        expect(items).to_have_count(4)
        md = page.locator('#upload-list > li[data-name="lighthouse.md"]')
        expect(md).to_have_attribute("data-outcome", "indexed")
        expect(md.locator(".upload-state")).to_have_text("Indexed")
        exe = page.locator('#upload-list > li[data-name="tool.exe"]')
        expect(exe).to_have_attribute("data-outcome", "failed")
        expect(exe.locator(".upload-state")).to_have_text(
            "Refused (415): unsupported format .exe of tool.exe; supported: .md, .txt"
        )
        huge = page.locator('#upload-list > li[data-name="huge.txt"]')
        expect(huge.locator(".upload-state")).to_contain_text("Refused (413): huge.txt is 100000 bytes")
        empty = page.locator('#upload-list > li[data-name="empty.txt"]')
        expect(empty).to_have_attribute("data-outcome", "skipped")
        expect(empty.locator(".upload-state")).to_have_text("Skipped: empty file")
        # The list reloads with the new document, its format and sections.
        new = page.locator('li.doc-item[data-source="uploads/lighthouse.md"]')
        expect(new).to_be_visible()
        expect(new.locator(".source")).to_contain_text("markdown · 2 sections")
        if viewport is DESKTOP:
            shoot(page, "desktop-upload.png")

        page.locator("#tab-ask").click()
        ask(page, "When must the keeper trim the wick at night?")
        cite = page.locator("#cite-1")
        expect(cite.locator("blockquote")).to_contain_text("trim the wick every 4 hours")
        expect(cite.locator("blockquote strong.value")).to_have_text("4")
        expect(cite.locator(".section-path")).to_have_text("Lighthouse keeping handbook › Lamp maintenance")
        check_citation_highlight(page, 1)
        expect(page.locator("#panel mark#highlight strong.value")).to_have_text("4")
        # Markdown is rendered: markup hidden, headings styled, the text itself unchanged (exact offsets).
        doc = page.locator("#doc")
        expect(doc).to_have_class(re.compile(r"\bmarkdown\b"))
        shown = doc.inner_text()
        assert "**" not in shown and "](" not in shown and "<img" not in shown and "```" not in shown
        assert "Skerry Light" in shown and "Northern Board" in shown
        assert doc.text_content() == LIGHTHOUSE_MD
        expect(doc.locator(".md-h1:not(.md-hide)").first).to_have_text("Lighthouse keeping handbook")
        expect(doc.locator(".md-h1.md-hide").first).to_be_hidden()
        page.locator("#markup-toggle").click()
        assert "**Skerry Light**" in doc.inner_text()
        if viewport is PHONE:
            page.locator("#panel-close").click()
            page.evaluate("window.scrollTo(0, 0)")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.timeout(60)
def test_drop_files_on_the_upload_area(browser: Any, fresh_stub: str) -> None:
    """Files dropped on the drop area are uploaded like chosen ones."""
    from playwright.sync_api import expect

    with open_page(browser, fresh_stub + "/#browse") as page:
        page.locator("#doc-list > li.doc-item").first.wait_for()
        page.evaluate(
            """() => {
                const dt = new DataTransfer();
                dt.items.add(new File(["Harbour notes. The ferry to Skye leaves at nine every morning."],
                                      "harbour.txt", {type: "text/plain"}));
                dt.items.add(new File(["# Tides\\n\\nHigh tide at the pier comes twice a day."],
                                      "tides.md", {type: "text/markdown"}));
                const drop = document.getElementById("drop");
                const init = {dataTransfer: dt, bubbles: true, cancelable: true};
                drop.dispatchEvent(new DragEvent("dragover", init));
                drop.dispatchEvent(new DragEvent("drop", init));
            }"""
        )
        expect(page.locator('#upload-list > li[data-outcome="indexed"]')).to_have_count(2)
        expect(page.locator("#doc-list > li.doc-item")).to_have_count(7)
        # The same file again is reported unchanged.
        upload(
            page,
            [
                (
                    "harbour.txt",
                    "text/plain",
                    b"Harbour notes. The ferry to Skye leaves at nine every morning.",
                )
            ],
        )
        expect(page.locator('#upload-list > li[data-outcome="unchanged"]')).to_have_text(
            re.compile("Unchanged")
        )


@pytest.mark.timeout(60)
def test_delete_asks_then_removes(browser: Any, fresh_stub: str) -> None:
    """Delete asks for confirmation; cancelled, nothing happens; confirmed, the document is gone."""
    from playwright.sync_api import expect

    source = "004_fb0761cbcaf37eb0.txt"
    with open_page(browser, fresh_stub + "/#browse") as page:
        item = page.locator(f'li.doc-item[data-source="{source}"]')
        messages: list[str] = []
        page.once("dialog", lambda d: (messages.append(d.message), d.dismiss()))
        item.locator("button.delete").click()
        expect(item).to_be_visible()
        assert messages and source in messages[0]
        page.once("dialog", lambda d: d.accept())
        with page.expect_request(lambda r: r.method == "DELETE") as req:
            item.locator("button.delete").click()
        assert req.value.url.endswith(f"/documents/{source}")
        expect(item).to_have_count(0)
        expect(page.locator("#doc-list > li.doc-item")).to_have_count(4)
        expect(page.locator("#browse-status")).to_have_text(f"Deleted {source}.")
    assert httpx.get(f"{fresh_stub}/documents/{source}").status_code == 404


@pytest.mark.timeout(60)
def test_placeholder_comes_from_the_documents(browser: Any, fresh_stub: str) -> None:
    """The question placeholder names a title of the indexed documents, whatever they are."""
    from playwright.sync_api import expect

    titles = {
        a["title"] for d in httpx.get(f"{fresh_stub}/documents").json()["documents"] for a in d["articles"]
    }
    with open_page(browser, fresh_stub) as page:
        box = page.locator("#question")
        expect(box).to_have_attribute("placeholder", re.compile("^e.g. What do the documents say about"))
        placeholder = box.get_attribute("placeholder")
        assert any(f"“{t}”" in placeholder for t in titles), placeholder
    # With only an uploaded document left, the placeholder is about that one.
    for source in titles and [d["source"] for d in httpx.get(f"{fresh_stub}/documents").json()["documents"]]:
        assert httpx.delete(f"{fresh_stub}/documents/{source}").status_code == 200
    with open_page(browser, fresh_stub + "/#browse") as page:
        expect(page.locator("#question")).to_have_attribute("placeholder", re.compile("No documents yet"))
        upload(page, [("lighthouse.md", "text/markdown", LIGHTHOUSE_MD.encode())])
        expect(page.locator("#upload-list > li")).to_have_attribute("data-outcome", "indexed")
        expect(page.locator("#question")).to_have_attribute(
            "placeholder", re.compile("“(Lighthouse keeping handbook|Lamp maintenance)”")
        )


@pytest.mark.timeout(60)
def test_new_question_clears_the_panel(browser: Any, stub_url: str) -> None:
    """The document of the previous answer does not stay beside the next one."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url) as page:
        ask(page, "How many tons of wheat from Kazakhstan arrived in Armenia?")
        page.locator("#cite-1").wait_for()
        check_citation_highlight(page, 1)
        ask(page, "When did the locomotive reach Yerevan station?")
        expect(page.locator("#cite-1 blockquote")).to_contain_text("locomotive")
        expect(page.locator("#doc")).to_be_hidden()
        expect(page.locator("#panel-empty")).to_be_visible()
        expect(page.locator("#panel-title")).to_have_text("Sources open here")


@pytest.mark.timeout(60)
def test_hedged_corrections_section_and_page(browser: Any, stub_url: str) -> None:
    """A hedged answer is marked; corrections are shown; section path and page appear with the quote."""
    from playwright.sync_api import expect

    text = (SEEDS / "000_471aab2a35820a5e.txt").read_text(encoding="utf-8")
    start = text.index("1,000 tons")
    end = start + len("1,000 tons of wheat")
    body = {
        "answer": f"“{text[start:end]}” [1]",
        "abstained": False,
        "hedged": True,
        "confidence": 0.41,
        "backend": "extractive",
        "citations": [
            {
                "n": 1,
                "source": "000_471aab2a35820a5e.txt",
                "title": "Armenia and Azerbaijan edge closer to peace",
                "section": ["Armenia and Azerbaijan edge closer to peace", "Trade", "Grain"],
                "page": 3,
                "quote": text[start:end],
                "start": start,
                "end": end,
                "highlights": [{"start": start, "end": start + 5}],
                "chunk_id": "c1",
                "score": 0.5,
            }
        ],
        "passages": [],
        "corrections": [{"from": "Kazakstan", "to": "Kazakhstan"}],
        "timings_ms": {"total": 3.0},
    }
    with open_page(browser, stub_url) as page:
        page.route(
            "**/ask",
            lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body)),
        )
        ask(page, "How much wheat came from Kazakstan?")
        expect(page.locator("#corrections")).to_have_text(
            "Showing results for Kazakhstan (you typed Kazakstan)"
        )
        expect(page.locator("#hedged")).to_have_text("may not be stated exactly")
        expect(page.locator("#answer")).to_have_attribute("data-hedged", "true")
        expect(page.locator("#hedged-note")).to_contain_text("may not state this exactly")
        line = page.locator("#cite-1 .source")
        expect(line.locator(".section-path")).to_have_text(
            "Armenia and Azerbaijan edge closer to peace › Trade › Grain"
        )
        expect(line.locator(".page")).to_have_text("p. 3")
        expect(page.locator("#cite-1 blockquote strong.value")).to_have_text("1,000")
        check_citation_highlight(page, 1)
        expect(page.locator("#panel mark#highlight strong.value")).to_have_text("1,000")


@pytest.mark.timeout(60)
def test_citation_link_opens_the_page_highlighted(browser: Any, stub_url: str) -> None:
    """#/doc/{source}?start=&end= (the chat link), and a browser opening /documents/... (redirected),
    land on the page with the span highlighted; no API key control on a server without keys."""
    from playwright.sync_api import expect

    source = "000_471aab2a35820a5e.txt"
    text = (SEEDS / source).read_text(encoding="utf-8")
    start = text.index("1,000 tons")
    end = text.index(".", start) + 1
    for url in (
        citation_url(stub_url, source, start, end),
        f"{stub_url}/documents/{source}?start={start}&end={end}",
    ):
        with open_page(browser, url) as page:
            mark = page.locator("#panel mark#highlight")
            expect(mark).to_have_text(text[start:end])
            assert "#/doc/" in page.url
            expect(page.locator("#key-box")).to_be_hidden()
            expect(page.locator("#permalink")).to_have_attribute(
                "href", f"#/doc/{source}?start={start}&end={end}"
            )
            page.keyboard.press("Escape")
            expect(page.locator("#doc")).to_be_hidden()
            assert "#/doc/" not in page.url


@pytest.mark.timeout(60)
def test_key_control_only_with_keys_and_link_asks_for_key(browser: Any, stub_url: str) -> None:
    """A 401 to the page's keyless probe shows the key control; a citation link then asks for the key
    (not a 401 body) and opens the span once it is given."""
    from playwright.sync_api import expect

    source = "000_471aab2a35820a5e.txt"
    text = (SEEDS / source).read_text(encoding="utf-8")
    start = text.index("1,000 tons")
    end = start + 19

    def guard(route: Any) -> None:
        if route.request.headers.get("authorization") == "Bearer k1":
            route.continue_()
        else:
            route.fulfill(
                status=401, content_type="application/json", body=json.dumps({"detail": "missing API key"})
            )

    with open_page(browser, stub_url) as page:
        expect(page.locator("#question")).to_have_attribute("placeholder", re.compile("e.g."))
        expect(page.locator("#key-box")).to_be_hidden()  # no keys on this server

    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(STEP_MS)
    try:
        context.route(re.compile(r".*/(documents|ask|jobs)(/.*|\?.*)?$"), guard)
        page = context.new_page()
        page.goto(citation_url(stub_url, source, start, end))
        expect(page.locator("#key-box")).to_be_visible()
        expect(page.locator("#key-input")).to_be_focused()
        expect(page.locator("#key-msg")).to_contain_text("requires an API key")
        page.locator("#key-input").fill("k1")
        page.locator("#key-input").press("Enter")
        expect(page.locator("#panel mark#highlight")).to_have_text(text[start:end])
    finally:
        context.close()


@pytest.mark.timeout(60)
def test_swagger_ui_renders_offline(browser: Any, stub_url: str) -> None:
    """/docs draws the operations and /redoc the API title with no network beyond 127.0.0.1."""
    from playwright.sync_api import expect

    with open_page(browser, stub_url + "/docs") as page, offline(page):
        expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
        expect(page.locator(".swagger-ui")).to_contain_text("/ask")
    with open_page(browser, stub_url + "/redoc") as page, offline(page):
        expect(page.locator("h1").first).to_contain_text("FastAPI")


# ---------------------------------------------------------------- end to end, the real API


def _real_app_available() -> bool:
    return (ROOT / "service" / "api" / "app.py").exists()


@contextlib.contextmanager
def real_api(data_dir: Path, **settings: Any) -> Iterator[str]:
    """Run the real Verbatim API (service.app:create_app) with uvicorn on loopback until /readyz is 200."""
    if not _real_app_available():
        pytest.skip("service/api/app.py does not exist")
    _require_browser()
    log_path = data_dir / "server.log"
    corpus = data_dir / "corpus"  # a copy: uploads through the page must not land in the repository
    shutil.copytree(SEEDS, corpus, dirs_exist_ok=True)
    port = free_port()
    code = (
        "import json, sys, uvicorn\n"
        "from starlette.routing import NoMatchFound\n"
        "from verbatim.service.api.app import create_app\n"
        "from verbatim.service.web import router\n"
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
            [sys.executable, "-c", code, str(data_dir), str(corpus), str(port), json.dumps(settings)],
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
        shoot(page, "desktop.png", docs="screenshot-desktop.png")

    with open_page(browser, real_url, viewport=PHONE) as page:
        ask(page, question)
        expect(page.locator("#quotes > li").first).to_be_visible(timeout=60_000)
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shoot(page, "phone.png", docs="screenshot-phone.png")
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


@pytest.mark.timeout(READY_TIMEOUT_S + 180)
def test_e2e_upload_ask_highlight_offline(browser: Any, real_url: str) -> None:
    """Against the real API: upload a Markdown file in the page, ask about it, open the citation
    highlighted, at desktop and phone widths, with nothing requested beyond 127.0.0.1."""
    from playwright.sync_api import expect

    paths = httpx.get(f"{real_url}/openapi.json", timeout=30).json()["paths"]
    if "post" not in paths.get("/documents", {}) or not any(p.startswith("/jobs/") for p in paths):
        pytest.skip("this API has no POST /documents and GET /jobs/{id} yet")
    for n, viewport in enumerate((DESKTOP, PHONE)):
        with open_page(browser, real_url + "/#browse", viewport=viewport) as page, offline(page):
            page.locator("#upload details.options summary").click()
            page.locator("#upload-folder").fill(f"web-e2e-{n}")
            upload(page, [("lighthouse.md", "text/markdown", LIGHTHOUSE_MD.encode())])
            item = page.locator('#upload-list > li[data-name="lighthouse.md"]')
            expect(item).to_have_attribute("data-outcome", re.compile("indexed|unchanged"), timeout=120_000)
            expect(page.locator(f'li.doc-item[data-source="web-e2e-{n}/lighthouse.md"]')).to_be_visible()
            page.locator("#tab-ask").click()
            ask(page, "How often must the keeper trim the wick during the night?")
            expect(page.locator("#quotes > li").first).to_be_visible(timeout=60_000)
            response = page.evaluate("window.verbatim.lastResponse()")
            cite = next(c for c in response["citations"] if c["source"].endswith("lighthouse.md"))
            assert LIGHTHOUSE_MD[cite["start"] : cite["end"]] == cite["quote"]
            check_citation_highlight(page, cite["n"])
