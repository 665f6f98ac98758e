"""Server mode end to end and fault tests, with real processes: `chroma run`, uvicorn API processes and
`verbatim ingest` jobs. Slow (each starts processes that load the model), still part of `make test`."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._servers import ApiProcess, check_whole_index, clean_env, run_cli, unprivileged_prefix
from tests.conftest import REPO, SEEDS, ChromaServer, make_settings, read_source
from verbatim.ingest.index.store import IndexStore
from verbatim.ingest.pipeline import EMBED_BATCH_CHUNKS

pytestmark = pytest.mark.slow

KEY = "server-mode-key-5d1e9a0c"
LLM_KEY = "sk-server-mode-llm-key-77aa31"
AUTH = {"Authorization": f"Bearer {KEY}"}
NEW_DOC = (
    "Port Bulletin\n\nBy Harbour Desk\n\nThe cargo ship Tamerlane Dawn unloaded 1,734 tonnes of "
    "cotton at Poti on Tuesday, the port authority said. It was the largest single cotton delivery of "
    "the year.\n"
)
NEW_QUESTION = "How much cotton did the Tamerlane Dawn unload at Poti?"


@dataclass
class Cluster:
    """One `chroma run` server holding the seeds, indexed by a `verbatim ingest` job."""

    base: Path
    corpus: Path
    chroma: ChromaServer

    def env(self, data: str, **extra: object) -> dict[str, str]:
        return clean_env(
            VERBATIM_CHROMA_URL=self.chroma.url,
            VERBATIM_CORPUS_DIR=self.corpus,
            VERBATIM_DATA_DIR=self.base / data,
            VERBATIM_API_KEYS=KEY,
            VERBATIM_LLM_API_KEY=LLM_KEY,
            **extra,
        )

    def api(self, name: str, **extra: object) -> ApiProcess:
        return ApiProcess(self.env(name, **extra), self.base / f"{name}.log")

    def settings(self) -> Any:
        return make_settings(self.base / "check", self.corpus, chroma_url=self.chroma.url)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("cluster")
    corpus = base / "corpus"
    shutil.copytree(SEEDS, corpus)
    chroma = ChromaServer(base / "chroma").start()
    try:
        job = run_cli(
            ["ingest"],
            clean_env(
                VERBATIM_CHROMA_URL=chroma.url, VERBATIM_CORPUS_DIR=corpus, VERBATIM_DATA_DIR=base / "job"
            ),
        )
        assert job.returncode == 0, job.stderr[-2000:]
        yield Cluster(base, corpus, chroma)
    finally:
        chroma.stop()


def cited_sources(answer: dict[str, Any]) -> set[str]:
    return {c["source"] for c in answer["citations"]}


def check_answer_offsets(answer: dict[str, Any], corpus: Path) -> None:
    for item in answer["passages"]:
        assert read_source(corpus, item["source"])[item["start"] : item["end"]] == item["text"]
    for item in answer["citations"]:
        assert read_source(corpus, item["source"])[item["start"] : item["end"]] == item["quote"]


def assert_clean_logs(*apis: ApiProcess) -> None:
    """JSON lines with request ids, no secret, no traceback."""
    for api in apis:
        log = api.log()
        assert KEY not in log and LLM_KEY not in log
        assert "Traceback" not in log, log[-3000:]
        access = [
            json.loads(line)
            for line in log.splitlines()
            if line.startswith("{") and '"verbatim.access"' in line
        ]
        assert access and all(len(e["request_id"]) >= 8 for e in access)


def report(name: str, figures: dict[str, Any]) -> None:
    """Print figures to the terminal and keep them in reports/ (git-ignored)."""
    out = REPO / "reports"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2))
    sys.__stdout__.write(f"\n[{name}] {json.dumps(figures)}\n")


# -- scale-out --------------------------------------------------------------------------------------
def test_two_api_processes_share_one_chroma_and_see_each_others_ingests(cluster: Cluster) -> None:
    with cluster.api("api-a") as a, cluster.api("api-b") as b:
        ready_a, ready_b = a.wait_ready(headers=AUTH), b.wait_ready(headers=AUTH)
        assert ready_a["chunks"] == ready_b["chunks"] > 50
        assert ready_a["index_version"] == ready_b["index_version"]
        before = httpx.post(f"{b.url}/ask", json={"question": NEW_QUESTION}, headers=AUTH, timeout=60).json()
        assert "new/port.txt" not in cited_sources(before)

        (cluster.corpus / "new").mkdir(exist_ok=True)
        (cluster.corpus / "new" / "port.txt").write_text(NEW_DOC, encoding="utf-8")
        done = httpx.post(
            f"{a.url}/admin/ingest", json={"paths": ["new/port.txt"]}, headers=AUTH, timeout=300
        )
        assert done.status_code == 200, done.text
        assert done.json()["indexed"] == 1 and done.json()["index_version"] > ready_a["index_version"]
        ingested_at = time.monotonic()

        # B was not told anything: its snapshot refresher notices the new version.
        while True:
            answer = httpx.post(f"{b.url}/ask", json={"question": NEW_QUESTION}, headers=AUTH, timeout=60)
            assert answer.status_code == 200, answer.text
            if "new/port.txt" in cited_sources(answer.json()):
                break
            assert time.monotonic() - ingested_at < 30, "B never saw A's ingest"
            time.sleep(0.1)
        lag = time.monotonic() - ingested_at
        data = answer.json()
        assert "1,734 tonnes" in data["answer"] and not data["abstained"]
        check_answer_offsets(data, cluster.corpus)
        ready = httpx.get(f"{b.url}/readyz", headers=AUTH).json()
        assert ready["index_version"] == done.json()["index_version"] and ready["chunks"] > ready_b["chunks"]
        doc = httpx.get(f"{b.url}/documents/new/port.txt", headers=AUTH).json()
        assert doc["text"] == NEW_DOC
    assert_clean_logs(a, b)
    report(
        "server-mode", {"refresh_lag_s": round(lag, 2), "refresh_interval_s": 0.5, "chunks": ready["chunks"]}
    )
    assert check_whole_index(cluster.settings())["served"] == ready["chunks"]


# -- faults -----------------------------------------------------------------------------------------
class Traffic:
    """Background /ask, /search and /documents requests, recording every outcome."""

    def __init__(self, url: str, workers: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.results: list[tuple[float, str, int, str, float]] = []  # (t, op, status, detail, seconds)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(workers)]

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)

    def _run(self, worker: int) -> None:
        ops = [
            ("ask", "post", "/ask", {"question": "Who hosted the peace talks?"}),
            ("search", "post", "/search", {"query": "wheat shipment tons"}),
            ("document", "get", "/documents/001_9cfcfe3f674856fa.txt?start=0&end=200", None),
        ]
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=60) as client:
            i = worker
            while not self.stop.is_set():
                name, method, path, body = ops[i % len(ops)]
                i += 1
                started = time.monotonic()
                try:
                    r = client.request(method, path, json=body)
                    status = r.status_code
                    detail = "" if status == 200 else str(r.json().get("detail", r.text))
                except httpx.HTTPError as exc:
                    status, detail = -1, f"{type(exc).__name__}: {exc}"
                with self.lock:
                    self.results.append((started, name, status, detail, time.monotonic() - started))

    def since(self, t: float) -> list[tuple[float, str, int, str, float]]:
        with self.lock:
            return [r for r in self.results if r[0] >= t]


def test_chroma_killed_and_restarted_during_requests(cluster: Cluster) -> None:
    # Two API processes on one Chroma server: one holds the whole (small) index in memory and searches
    # it exactly; the other is told its index is larger than its chunk cache, so it searches Chroma and
    # reads chunks from it, as a large index does. While Chroma is down the first keeps answering and
    # the second answers 503 "unreachable" (never a 500 or a hang); both recover without a restart.
    with cluster.api("api-fault", VERBATIM_CHUNK_CACHE=10) as api, cluster.api("api-memory") as memory:
        ready = api.wait_ready(headers=AUTH)
        memory_ready = memory.wait_ready(headers=AUTH)
        pid = api.proc.pid if api.proc else 0
        with Traffic(api.url) as traffic, Traffic(memory.url, workers=2) as held:
            time.sleep(2)
            killed_at = time.monotonic()
            cluster.chroma.stop()  # SIGKILL
            deadline = killed_at + 30
            while not any(r[2] == 503 for r in traffic.since(killed_at)):
                assert time.monotonic() < deadline, "no 503 while Chroma was down"
                time.sleep(0.05)
            first_503 = min(r[0] + r[4] for r in traffic.since(killed_at) if r[2] == 503) - killed_at
            time.sleep(3)
            during = held.since(killed_at)
            restarted_at = time.monotonic()
            cluster.chroma.start()
            chroma_up = time.monotonic() - restarted_at
            deadline = time.monotonic() + 60
            while not any(r[2] == 200 and r[1] != "document" for r in traffic.since(time.monotonic() - 0.5)):
                assert time.monotonic() < deadline, "the API never recovered"
                time.sleep(0.1)
            recovered = time.monotonic() - restarted_at
            time.sleep(1)
        results = traffic.results
        again = api.wait_ready(timeout=30, headers=AUTH)
        assert again["chunks"] == ready["chunks"] and again["index_version"] == ready["index_version"]
        assert api.proc is not None and api.proc.pid == pid and api.proc.poll() is None  # never restarted
        assert memory.wait_ready(timeout=30, headers=AUTH)["index_version"] == memory_ready["index_version"]
    statuses = {r[2] for r in results}
    assert statuses <= {200, 503}, [r for r in results if r[2] not in (200, 503)][:5]
    outage = [r for r in results if r[2] == 503]
    assert outage and all("unreachable" in r[3] for r in outage), outage[:3]
    assert max(r[4] for r in results) < 30  # nothing hung
    by_op = {op: sum(1 for r in outage if r[1] == op) for op in ("ask", "search", "document")}
    assert by_op["document"] == 0  # documents are served from the snapshot and the files, Chroma or not
    # The index held in memory answered every question of the outage.
    assert {r[1] for r in during} >= {"ask", "search"}, during[:3]
    assert all(r[2] == 200 for r in held.results), [r for r in held.results if r[2] != 200][:3]
    report(
        "chroma-outage",
        {
            "requests": len(results),
            "503s": len(outage),
            "503_by_op": by_op,
            "first_503_after_kill_s": round(first_503, 2),
            "chroma_restart_s": round(chroma_up, 2),
            "recovered_after_restart_s": round(recovered, 2),
            "max_latency_s": round(max(r[4] for r in results), 2),
            "chunks_before": ready["chunks"],
            "in_memory_index_requests_during_outage": len(during),
            "in_memory_index_non_200": sum(1 for r in held.results if r[2] != 200),
        },
    )
    assert_clean_logs(api, memory)


def _extra_documents(corpus: Path, count: int) -> list[str]:
    """New documents (seed texts under new headlines, each with a unique fact): enough to take a while."""
    seeds = sorted(SEEDS.glob("*.txt"))
    names = []
    for i in range(count):
        text = read_source(SEEDS, seeds[i % len(seeds)].name)
        name = f"batch/extra_{i:02d}.txt"
        fact = f"Extra bulletin {i}: the river barge Orion-{i} carried {1000 + i} sacks of rice to Atyrau."
        fact += "\n\n"
        (corpus / name).parent.mkdir(exist_ok=True)
        (corpus / name).write_text(f"Extra Bulletin {i}\n\n{fact}{text}", encoding="utf-8", newline="")
        names.append(name)
    return names


def _chunk_count(url: str) -> int:
    import chromadb

    host, port = url.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    return int(client.get_collection("verbatim_chunks").count())


def test_ingest_sigkilled_mid_write_keeps_serving_the_previous_index(cluster: Cluster) -> None:
    settings = cluster.settings()
    with cluster.api("api-kill") as api:
        ready = api.wait_ready(headers=AUTH)
        stored_before = _chunk_count(cluster.chroma.url)
        # Enough documents for three write groups (EMBED_BATCH_CHUNKS chunks each), so the kill after the
        # first group's write lands before that group's commit or, at the latest, while the next group is
        # still embedding. With one group, its commit followed the write within milliseconds and a slow
        # poll could miss the window (seen once in CI: all 8 documents committed before the kill).
        served = len(httpx.get(f"{api.url}/documents", headers=AUTH).json()["documents"])
        per_document = ready["chunks"] / served
        names = _extra_documents(cluster.corpus, math.ceil(2.5 * EMBED_BATCH_CHUNKS / per_document))
        env = cluster.env("job")
        batch = str(cluster.corpus / "batch")
        proc = subprocess.Popen(
            [sys.executable, "-m", "verbatim.cli", "ingest", batch],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 240
        while _chunk_count(cluster.chroma.url) == stored_before:  # wait for its first write...
            assert proc.poll() is None, "the ingest finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # ...and kill it in the middle of writing
        proc.wait(timeout=30)
        committed = [n for n in names if n in IndexStore(settings).manifest()]  # committed, not yet served

        # The API never noticed: same version, still answering, every chunk it serves still exact.
        still = api.wait_ready(timeout=10, headers=AUTH)
        assert still["index_version"] == ready["index_version"] and still["chunks"] == ready["chunks"]
        ask = httpx.post(
            f"{api.url}/ask",
            json={"question": "How many tons of wheat arrived in Armenia?"},
            headers=AUTH,
            timeout=60,
        )
        assert ask.status_code == 200 and not ask.json()["abstained"]
        check_answer_offsets(ask.json(), cluster.corpus)
        listed = httpx.get(f"{api.url}/documents", headers=AUTH).json()["documents"]
        served_sources = {d["source"] for d in listed}
        assert not served_sources & set(names)  # still the previous version: none of the new documents
        after_kill = check_whole_index(settings)
        assert len(committed) < len(names)

        # The next ingest completes (the killed one's lock died with it), sweeps the leftovers, and the API
        # picks up the new version by itself.
        again = run_cli(["ingest", batch, "--json"], env)
        assert again.returncode == 0, again.stderr[-2000:]
        summary = json.loads(again.stdout)
        assert summary["indexed"] == len(names) - len(committed) and summary["unchanged"] == len(committed)
        final = check_whole_index(settings)
        assert final["served"] == final["stored"]  # no orphans left
        deadline = time.monotonic() + 30
        while api.wait_ready(headers=AUTH)["index_version"] != summary["index_version"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        question = "How many sacks of rice did the barge Orion-7 carry?"
        last = httpx.post(f"{api.url}/ask", json={"question": question}, headers=AUTH, timeout=60).json()
        assert "batch/extra_07.txt" in cited_sources(last) and "1007 sacks" in last["answer"]
    assert_clean_logs(api)
    report(
        "ingest-sigkill",
        {
            "documents": len(names),
            "committed_before_kill": len(committed),
            "served_after_kill": after_kill["served"],
            "stored_after_kill": after_kill["stored"],
            "orphans_after_kill": after_kill["stored"] - after_kill["served"],
            "served_final": final["served"],
            "version_before": ready["index_version"],
            "version_after": summary["index_version"],
        },
    )


# -- read-only data dir -------------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path) -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's tmp dirs are private to root)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="verbatim-ro-"))
    base.chmod(0o755)
    (base / "home").mkdir(mode=0o777)
    (base / "home").chmod(0o777)
    try:
        yield base
    finally:
        for path in base.rglob("*"):
            with contextlib.suppress(OSError):
                path.chmod(0o777 if path.is_dir() else 0o666)
        shutil.rmtree(base, ignore_errors=True)


def test_read_only_data_dir_is_reported_clearly(world: Path) -> None:
    drop = unprivileged_prefix()
    if drop is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only for this process")
    corpus = world / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text(NEW_DOC, encoding="utf-8")
    for path in (corpus, *corpus.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    empty = world / "empty-data"
    empty.mkdir(mode=0o555)
    empty.chmod(0o555)
    base_env = {
        "HOME": str(world / "home"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "VERBATIM_CORPUS_DIR": str(corpus),
    }
    if drop:  # can the unprivileged user see the model and the code at all?
        probe = subprocess.run(
            [*drop, sys.executable, "-c", "import verbatim.service.api.app"],
            cwd=REPO,
            capture_output=True,
            env=clean_env(**base_env),
            timeout=120,
            check=False,
        )
        if probe.returncode != 0:
            pytest.skip(f"the unprivileged user cannot run the project here: {probe.stderr[-300:]}")

    # 1. The CLI says what is wrong, in a sentence, and exits 2.
    env = clean_env(**base_env, VERBATIM_DATA_DIR=empty)
    for args in (["ingest"], ["serve", "--port", "1"]):
        out = run_cli(args, env, timeout=120, prefix=drop)
        assert out.returncode == 2, out
        assert "is not writable" in out.stderr and str(empty) in out.stderr and "Traceback" not in out.stderr

    # 2. An API started on it stays up and says why it is not ready; an ingest through it is a 503.
    with ApiProcess(env, world / "api-empty.log", prefix=drop) as api:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{api.url}/readyz", timeout=10)
                if "cannot be written" in r.text:
                    break
            assert time.monotonic() < deadline, api.log()[-2000:]
            time.sleep(0.3)
        assert r.status_code == 503 and "Permission denied" in r.json()["detail"]
        assert "VERBATIM_DATA_DIR" in r.json()["detail"]
        assert httpx.get(f"{api.url}/healthz").status_code == 200
        ask = httpx.post(f"{api.url}/ask", json={"question": "cotton?"}, timeout=30)
        assert ask.status_code == 503 and "cannot be written" in ask.json()["detail"]
        ingest = httpx.post(f"{api.url}/admin/ingest", json={}, timeout=60)
        assert ingest.status_code == 503 and "cannot write the index" in ingest.json()["detail"]
    assert "Traceback" not in api.log(), api.log()[-3000:]

    # 3. An index built earlier, then made read-only: the same clear report.
    built = world / "built-data"
    job = run_cli(["ingest"], clean_env(**base_env, VERBATIM_DATA_DIR=built))
    assert job.returncode == 0, job.stderr[-2000:]
    for path in (built, *built.rglob("*")):
        path.chmod(0o555 if path.is_dir() else 0o444)
    env = clean_env(**base_env, VERBATIM_DATA_DIR=built)
    out = run_cli(["ingest"], env, timeout=120, prefix=drop)
    assert out.returncode == 2 and "is not writable" in out.stderr and "Traceback" not in out.stderr
    with ApiProcess(env, world / "api-built.log", prefix=drop) as api:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{api.url}/readyz", timeout=10)
                if r.status_code == 503 and "cannot be written" in r.text:
                    break
            assert time.monotonic() < deadline, api.log()[-2000:]
            time.sleep(0.3)
        assert "readonly database" in r.json()["detail"] or "Permission denied" in r.json()["detail"]
    assert "Traceback" not in api.log(), api.log()[-3000:]
