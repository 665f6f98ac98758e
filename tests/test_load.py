"""A bounded load test on loopback: a real uvicorn API process on a `chroma run` server, a mixed
/ask, /search, /documents workload at concurrency 16 for 30 s while a second process re-ingests a
changed file. Zero errors; afterwards the offset invariant holds over the whole index; p99 reported."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._servers import ApiProcess, check_whole_index, clean_env, percentile, run_cli
from tests.conftest import REPO, SEEDS, ChromaServer, make_settings, read_source

pytestmark = pytest.mark.slow

DURATION_S = float(os.environ.get("VERBATIM_LOAD_SECONDS", "30"))
CONCURRENCY = 16
INGEST_AFTER_S = 5.0
KEY = "load-test-key-0f3e2d1c"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHANGED = "002_89366930e8a4c876.txt"
ADDED = (
    "\n\nGrain Corridor Update\n\nBy Trade Desk\n\nThe Kazakh grain corridor moved 48,250 tonnes of "
    "barley through the port of Aktau in May, the ministry said.\n"
)


def questions() -> list[str]:
    legacy = REPO / "evals" / "corpora" / "seeds" / "questions-legacy.jsonl"
    lines = legacy.read_text(encoding="utf-8").splitlines()
    found = [json.loads(line)["question"] for line in lines if line.strip()]
    return found[:60] or ["Who lifted the transit ban?"]


async def load(url: str, sources: dict[str, int], stop_at: float, seed: int = 7) -> list[dict[str, Any]]:
    """CONCURRENCY workers, each sending the next request as soon as the last one is answered."""
    asks = questions()
    results: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async def worker(n: int, client: httpx.AsyncClient) -> None:
        rnd = random.Random(seed + n)
        while time.monotonic() < stop_at:
            roll = rnd.random()
            if roll < 0.5:
                op, request = "ask", client.post("/ask", json={"question": rnd.choice(asks)})
            elif roll < 0.8:
                op, request = "search", client.post("/search", json={"query": rnd.choice(asks), "top_k": 8})
            else:
                source = rnd.choice(sorted(sources))
                start = rnd.randrange(0, max(1, sources[source] - 300))
                op, request = "document", client.get(f"/documents/{source}?start={start}&end={start + 200}")
            started = time.monotonic()
            try:
                response = await request
                status = response.status_code
                error = "" if status == 200 else response.text[:200]
                if status == 200:
                    response.json()
            except (httpx.HTTPError, ValueError) as exc:
                status, error = -1, f"{type(exc).__name__}: {exc}"
            results.append(
                {
                    "op": op,
                    "status": status,
                    "seconds": time.monotonic() - started,
                    "error": error,
                    "t": started,
                }
            )

    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=120, limits=limits) as client:
        await asyncio.gather(*(worker(n, client) for n in range(CONCURRENCY)))
    return results


def summary(results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    def stats(rows: list[dict[str, Any]]) -> dict[str, float]:
        lat = [r["seconds"] * 1000 for r in rows]
        return {
            "n": len(rows),
            **{f"p{q}_ms": round(percentile(lat, q), 1) for q in (50, 95, 99)},
            "max_ms": round(max(lat, default=0), 1),
        }

    out: dict[str, Any] = {
        "concurrency": CONCURRENCY,
        "seconds": round(seconds, 1),
        "requests": len(results),
        "rps": round(len(results) / seconds, 1),
        "errors": sum(1 for r in results if r["status"] != 200),
        **stats(results),
    }
    for op in ("ask", "search", "document"):
        out[op] = stats([r for r in results if r["op"] == op])
    return out


def test_mixed_load_at_concurrency_16_while_a_changed_file_is_reingested(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    chroma = ChromaServer(tmp_path / "chroma").start()
    common = {"VERBATIM_CHROMA_URL": chroma.url, "VERBATIM_CORPUS_DIR": corpus}
    try:
        with ApiProcess(
            clean_env(**common, VERBATIM_DATA_DIR=tmp_path / "api", VERBATIM_API_KEYS=KEY),
            tmp_path / "api.log",
        ) as api:
            ready = api.wait_ready(timeout=300, headers=AUTH)  # first start ingests the seeds
            docs = httpx.get(f"{api.url}/documents", headers=AUTH).json()["documents"]
            sources = {d["source"]: d["chars"] for d in docs}

            ingest: dict[str, Any] = {}

            def reingest() -> None:
                time.sleep(INGEST_AFTER_S)
                path = corpus / CHANGED
                path.write_text(read_source(corpus, CHANGED) + ADDED, encoding="utf-8", newline="")
                started = time.monotonic()
                job = run_cli(
                    ["ingest", str(path), "--json"], clean_env(**common, VERBATIM_DATA_DIR=tmp_path / "job")
                )
                ingest.update(
                    returncode=job.returncode,
                    seconds=time.monotonic() - started,
                    report=json.loads(job.stdout) if job.returncode == 0 else job.stderr[-2000:],
                )

            job_thread = threading.Thread(target=reingest, daemon=True)
            started = time.monotonic()
            job_thread.start()
            results = asyncio.run(load(api.url, sources, started + DURATION_S))
            elapsed = time.monotonic() - started
            job_thread.join(timeout=300)

            figures = summary(results, elapsed)
            figures["ingest_seconds_under_load"] = round(ingest.get("seconds", -1), 1)
            failures = [r for r in results if r["status"] != 200]
            assert not failures, failures[:5]
            assert ingest["returncode"] == 0, ingest
            report = ingest["report"]
            assert report["indexed"] == 1 and report["embedded_chunks"] >= 1

            # The API picks up the new version by itself and answers from the changed file.
            deadline = time.monotonic() + 30
            while api.wait_ready(headers=AUTH)["index_version"] != report["index_version"]:
                assert time.monotonic() < deadline, "the API never loaded the new index version"
                time.sleep(0.2)
            question = {"question": "How many tonnes of barley did the grain corridor move?"}
            answer = httpx.post(f"{api.url}/ask", headers=AUTH, timeout=60, json=question).json()
            assert CHANGED in {c["source"] for c in answer["citations"]} and "48,250" in answer["answer"]
            after = api.wait_ready(headers=AUTH)
            scrape = httpx.get(f"{api.url}/metrics", headers=AUTH).text
            rss = next(
                float(line.split()[1])
                for line in scrape.splitlines()
                if line.startswith("process_resident_memory_bytes")
            )
            figures["api_rss_mb"] = round(rss / 2**20)
            figures["load_average_1m"] = round(os.getloadavg()[0], 1)
        # No lost or corrupted chunks: the invariant over every chunk, nothing orphaned.
        index = check_whole_index(make_settings(tmp_path / "check", corpus, chroma_url=chroma.url))
        assert index["served"] == index["stored"] == after["chunks"]
        assert index["documents"] == ready["documents"]
        figures["chunks"] = index["served"]
    finally:
        chroma.stop()
    (REPO / "reports").mkdir(exist_ok=True)
    (REPO / "reports" / "load.json").write_text(json.dumps(figures, indent=2))
    sys.__stdout__.write(f"\n[load] {json.dumps(figures)}\n")
    assert figures["requests"] > CONCURRENCY * 5
