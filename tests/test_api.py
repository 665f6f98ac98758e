"""The HTTP API over real HTTP: answers with verbatim quotes, bad input, readiness, outages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, SEEDS, ChromaServer, LiveServer, make_settings, read_source
from verbatim.evals.runner import QUESTIONS
from verbatim.evals.scoring import load_questions
from verbatim.service.api.app import create_app
from verbatim.service.qa.engine import Engine


@pytest.fixture(scope="module")
def live(seeded_engine: Engine) -> LiveServer:
    server = LiveServer(create_app(seeded_engine.settings, engine=seeded_engine, start=False))
    with server:
        server.wait_ready()
        yield server


def check_offsets(data: dict, corpus: Path = SEEDS) -> None:
    for p in data["passages"]:
        assert read_source(corpus, p["source"])[p["start"] : p["end"]] == p["text"]
    for c in data["citations"]:
        text = read_source(corpus, c["source"])
        assert text[c["start"] : c["end"]] == c["quote"]
        assert "…" not in c["quote"] and c["quote"] == c["quote"].strip()
        # never cut mid-word
        assert c["start"] == 0 or not (text[c["start"] - 1].isalnum() and text[c["start"]].isalnum())
        assert c["end"] == len(text) or not (text[c["end"] - 1].isalnum() and text[c["end"]].isalnum())
        assert any(
            p["chunk_id"] == c["chunk_id"] and p["start"] <= c["start"] and c["end"] <= p["end"]
            for p in data["passages"]
        )


def test_answers_quote_the_documents_verbatim(live: LiveServer) -> None:
    r = httpx.post(
        f"{live.url}/ask", json={"question": "How many tons of wheat arrived in Armenia from Kazakhstan?"}
    )
    assert r.status_code == 200
    data = r.json()
    assert not data["abstained"] and data["backend"] == "extractive"
    assert "1,000 tons" in data["answer"] and data["citations"][0]["n"] == 1
    assert data["citations"][0]["source"] == "000_471aab2a35820a5e.txt"
    assert data["citations"][0]["title"] == "Armenia and Azerbaijan edge closer to peace"
    assert set(data["timings_ms"]) >= {"retrieve", "answer", "total"}
    check_offsets(data)


def test_offset_invariant_over_every_eval_question(live: LiveServer) -> None:
    questions = load_questions(QUESTIONS, "all")
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for q in questions:
            r = client.post("/ask", json={"question": q.question, "top_k": 8})
            assert r.status_code == 200, q.id
            check_offsets(r.json())
    assert len(questions) >= 80


def test_abstention_keeps_closest_passages(live: LiveServer) -> None:
    data = httpx.post(
        f"{live.url}/ask", json={"question": "What is the boiling point of mercury in Kelvin?"}
    ).json()
    assert data["abstained"] and data["citations"] == [] and data["passages"]
    assert "do not say" in data["answer"]


def test_search_sources_filter_and_documents(live: LiveServer) -> None:
    source = "001_9cfcfe3f674856fa.txt"
    r = httpx.post(
        f"{live.url}/search", json={"query": "transit restrictions", "top_k": 3, "sources": [source]}
    )
    results = r.json()["results"]
    assert 1 <= len(results) <= 3 and {p["source"] for p in results} == {source}
    spans = [(p["start"], p["end"]) for p in results]
    assert all(not (a[0] < b[1] and b[0] < a[1]) or a == b for a in spans for b in spans)
    doc = httpx.get(f"{live.url}/documents/{source}", params={"start": 0, "end": 40}).json()
    assert doc["span"]["text"] == read_source(SEEDS, source)[:40] and doc["articles"][0]["title"]
    listing = httpx.get(f"{live.url}/documents").json()["documents"]
    assert len(listing) == 5 and sum(len(d["articles"]) for d in listing) == 13


BAD_REQUESTS = [
    (
        "/ask",
        {"content": "{not json", "headers": {"content-type": "application/json"}},
        400,
        "malformed JSON",
    ),
    (
        "/ask",
        {"content": "question=hi", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        415,
        "JSON",
    ),
    ("/ask", {"json": {}}, 422, "question"),
    ("/ask", {"json": {"question": ""}}, 422, "empty"),
    ("/ask", {"json": {"question": "   \n\t"}}, 422, "empty"),
    ("/ask", {"json": {"question": "x" * 2001}}, 422, "2000"),
    ("/ask", {"json": {"question": 42}}, 422, "string"),
    ("/ask", {"json": {"question": ["a"]}}, 422, "string"),
    ("/ask", {"json": {"question": "hi", "top_k": 0}}, 422, "top_k"),
    ("/ask", {"json": {"question": "hi", "top_k": 21}}, 422, "top_k"),
    ("/ask", {"json": {"question": "hi", "top_k": "5"}}, 422, "top_k"),
    ("/ask", {"json": {"question": "hi", "sources": ["nope.txt"]}}, 422, "unknown source"),
    ("/ask", {"json": {"question": "hi", "sources": "000_471aab2a35820a5e.txt"}}, 422, "sources"),
    ("/ask", {"json": {"question": "hi", "backend": "gpt"}}, 422, "backend"),
    ("/ask", {"json": {"question": "hi", "surprise": 1}}, 422, "surprise"),
    ("/ask", {"json": [1, 2]}, 422, "body"),
    ("/search", {"json": {"query": ""}}, 422, "empty"),
    ("/search", {"json": {"query": "x", "top_k": -1}}, 422, "top_k"),
]


@pytest.mark.parametrize(("path", "kwargs", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_clear_4xx(
    live: LiveServer, path: str, kwargs: dict, status: int, message: str
) -> None:
    r = httpx.post(f"{live.url}{path}", **kwargs)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and message.lower() in detail.lower()


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "/etc/passwd",
        "nope.txt",
        "000_471aab2a35820a5e.txt?start=5&end=2",
        "000_471aab2a35820a5e.txt?end=999999",
    ],
)
def test_documents_cannot_escape_and_bad_spans_are_4xx(live: LiveServer, path: str) -> None:
    r = httpx.get(f"{live.url}/documents/{path}")
    assert 400 <= r.status_code < 500 and "root:" not in r.text


def test_metrics_use_route_templates(live: LiveServer) -> None:
    httpx.get(f"{live.url}/documents/001_9cfcfe3f674856fa.txt")
    text = httpx.get(f"{live.url}/metrics").text
    assert 'route="/documents/{source}"' in text and "001_9cfcfe3f674856fa" not in text


def test_readyz_is_503_until_first_start_ingested_then_ready(tmp_path: Path, corpus: Path) -> None:
    settings = make_settings(tmp_path / "data", corpus)
    with LiveServer(create_app(settings)) as server:
        first = httpx.get(f"{server.url}/readyz")
        assert first.status_code in (200, 503)
        if first.status_code == 503:
            assert first.json()["detail"]
            assert httpx.post(f"{server.url}/ask", json={"question": "hi"}).status_code == 503
        server.wait_ready()
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["chunks"] > 50 and ready["documents"] == 5


@pytest.mark.slow
@pytest.mark.parametrize("held", [True, False], ids=["index-in-memory", "index-in-chroma"])
def test_unreachable_chroma_gives_503_and_recovers_without_restart(
    tmp_path: Path, corpus: Path, held: bool
) -> None:
    # An index that fits the chunk cache is searched in memory and keeps answering while Chroma is down;
    # a larger one (here: a chunk cache of 10) needs Chroma for every question and answers 503 meanwhile.
    # /readyz says the index is unreachable either way, and both recover without a restart.
    chroma = ChromaServer(tmp_path / "chroma").start()
    extra = {} if held else {"chunk_cache": 10}
    settings = make_settings(tmp_path / "data", corpus, chroma_url=chroma.url, **extra)
    try:
        with LiveServer(create_app(settings)) as server:
            server.wait_ready()
            ask = {"question": "Who hosted peace talks in Almaty?"}
            assert httpx.post(f"{server.url}/ask", json=ask).status_code == 200
            chroma.stop()
            down = httpx.post(f"{server.url}/ask", json=ask, timeout=60)
            if held:
                assert down.status_code == 200 and down.json()["citations"], down.text
            else:
                assert down.status_code == 503 and "unreachable" in down.json()["detail"]
            assert httpx.get(f"{server.url}/readyz", timeout=60).status_code == 503
            chroma.start()
            deadline = time.monotonic() + 60
            while httpx.post(f"{server.url}/ask", json=ask, timeout=60).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.5)
            deadline = time.monotonic() + 60
            while httpx.get(f"{server.url}/readyz").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.5)
    finally:
        chroma.stop()


def test_cli_ingest_hands_off_to_the_running_server_and_ask_prints(tmp_path: Path, corpus: Path) -> None:
    from verbatim.cli.handoff import own_data_dir

    settings = make_settings(tmp_path / "data", corpus)
    env = {
        **os.environ,
        "VERBATIM_DATA_DIR": str(settings.data_dir),
        "VERBATIM_CORPUS_DIR": str(corpus),
        "VERBATIM_MODEL_CACHE_DIR": str(settings.models_dir),
    }
    with LiveServer(create_app(settings)) as server, own_data_dir(settings, "127.0.0.1", server.port):
        server.wait_ready()
        (corpus / "new.md").write_text(
            "# Ferry News\n\nThe Caspian ferry Zarya carried 412 trucks in March.\n", encoding="utf-8"
        )
        out = subprocess.run(
            [sys.executable, "-m", "verbatim.cli", "ingest"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        assert "ingesting through it" in out.stderr and "1 indexed" in out.stdout
        answer = subprocess.run(
            [sys.executable, "-m", "verbatim.cli", "ask", "How many trucks did the ferry Zarya carry?"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert answer.returncode == 0 and "412 trucks" in answer.stdout and "new.md" in answer.stdout
        assert "\033[" not in answer.stdout  # a pipe gets plain text
        as_json = subprocess.run(
            [sys.executable, "-m", "verbatim.cli", "ask", "--json", "Zarya trucks?"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert json.loads(as_json.stdout)["passages"]
