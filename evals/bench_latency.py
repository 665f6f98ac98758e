"""Latency benchmark: the in-process floor, /search and /ask over real HTTP, and load shedding.

1. Ingests the seeds into a fresh data dir (a child process).
2. The floor, in-process on that index: query embedding + Chroma query (n = what the retriever
   fetches), p50/p95; also each part alone and an answer without HTTP (`Answering.answer`).
3. Starts `verbatim serve` on a free loopback port over a copy of the index and drives `/search` and
   `/ask` with httpx at concurrency 1 and 8 (a fixed set of varied questions about the seeds, bounded
   requests and time): p50/p95/p99, requests/s, errors; and the ratio of `/ask` p50 to the floor.
4. Overload probe: a server with a small `max_inflight` driven far past it; it must answer 503 with
   Retry-After (and keep accepted requests fast) instead of queueing without bound.

    python -m evals.bench_latency [--quick] [--profile]

Prints a table and writes reports/bench_latency.json. Times are milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from verbatim.evals.benchutil import (
    REPO,
    REPORTS,
    SEEDS,
    child_env,
    default_model_cache,
    free_port,
    ingest_child,
    load_average,
    machine,
    percentiles,
    table,
    write_report,
)

QUESTIONS = REPO / "evals" / "corpora" / "seeds" / "questions-legacy.jsonl"
GOAL_ASK_P50_MS = 15.0
GOAL_FLOOR_RATIO = 2.0
GOAL_C8_RPS = 150.0
GOAL_C8_P99_MS = 150.0
FALLBACK_QUESTIONS = (
    "How much Kazakh wheat reached Armenia over the new rail route?",
    "Who lifted the transit ban?",
    "When did the Armenia-Russia reengagement start?",
    "What is the Trump Route for International Peace and Prosperity?",
    "Which countries does the Middle Corridor link?",
    "What did Netanyahu say about the Armenian genocide?",
)


def load_questions(path: Path = QUESTIONS, limit: int | None = 60) -> list[str]:
    """A fixed, varied list of questions about the seeds: every kind of the eval set, interleaved
    (`limit=None`: all of them)."""
    if not path.exists():
        return list(FALLBACK_QUESTIONS)
    by_kind: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            by_kind.setdefault(str(item.get("kind", "other")), []).append(str(item["question"]))
    out: list[str] = []
    cap = limit if limit is not None else sum(len(v) for v in by_kind.values())
    while len(out) < cap and any(by_kind.values()):
        for kind in sorted(by_kind):
            if by_kind[kind] and len(out) < cap:
                out.append(by_kind[kind].pop(0))
    return out or list(FALLBACK_QUESTIONS)


# ----------------------------------------------------------------------------------- the index and floor


def _settings(data_dir: Path, corpus: Path, runtime: str, cache: Path, **extra: Any) -> Any:
    from verbatim.settings import Settings

    return Settings(
        data_dir=data_dir,
        corpus_dir=corpus,
        chroma_url=None,
        collection="verbatim",
        embed_runtime=runtime,  # type: ignore[arg-type]  # checked by Settings at run time
        model_cache_dir=cache,
        **extra,
    )


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def measure_floor(
    settings: Any, questions: Sequence[str], rounds: int, profile: bool = False
) -> dict[str, Any]:
    """In-process: embed + Chroma query (the floor), each alone, and an answer / Engine.search."""
    from verbatim.service.qa.answering import Answering
    from verbatim.service.qa.engine import Engine
    from verbatim.service.qa.schemas import AskRequest, SearchRequest

    engine = Engine(settings)
    engine.start(bootstrap=False)
    answering = Answering(settings, engine)
    try:
        engine.wait_for_warm_up(timeout=300)  # it would share the CPU with the first rounds
        retriever, store = engine.retriever, engine.store
        fetch = max(retriever.config.fetch, 5 * 4)
        for q in questions[:10]:  # warm-up: first calls allocate
            store.dense_query(retriever.encoder.embed([q])[0], fetch)
            answering.answer(AskRequest(question=q))
        embed, chroma, chroma5, floor, ask, search = [], [], [], [], [], []
        for i in range(rounds):
            q = questions[i % len(questions)]
            t0 = time.perf_counter()
            vector = retriever.encoder.embed([q])[0]
            t1 = time.perf_counter()
            store.dense_query(vector, fetch)
            t2 = time.perf_counter()
            store.dense_query(vector, 5)
            t3 = time.perf_counter()
            answering.answer(AskRequest(question=q))
            t4 = time.perf_counter()
            engine.search(SearchRequest(query=q))
            t5 = time.perf_counter()
            embed.append(_ms(t1 - t0))
            chroma.append(_ms(t2 - t1))
            floor.append(_ms(t2 - t0))
            chroma5.append(_ms(t3 - t2))
            ask.append(_ms(t4 - t3))
            search.append(_ms(t5 - t4))
        result: dict[str, Any] = {
            "rounds": rounds,
            "fetch": fetch,
            "chunks": engine.snapshot().chunk_count,
            "floor_ms": percentiles(floor, (50, 95)),
            "embed_ms": percentiles(embed, (50, 95)),
            f"chroma_k{fetch}_ms": percentiles(chroma, (50, 95)),
            "chroma_k5_ms": percentiles(chroma5, (50, 95)),
            "engine_ask_ms": percentiles(ask, (50, 95)),
            "engine_search_ms": percentiles(search, (50, 95)),
        }
        if profile:
            result["profile"] = _profile(engine, questions, rounds)
        return result
    finally:
        engine.stop()


def _profile(engine: Any, questions: Sequence[str], rounds: int) -> str:
    """cProfile of an in-process answer over the questions: where the in-process time goes."""
    from verbatim.service.qa.answering import Answering
    from verbatim.service.qa.schemas import AskRequest

    answering = Answering(engine.settings, engine)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(rounds):
        answering.answer(AskRequest(question=questions[i % len(questions)]))
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()


# ----------------------------------------------------------------------------------- the server


class Server:
    """`verbatim serve` in a child process on a free loopback port."""

    def __init__(
        self,
        data_dir: Path,
        corpus: Path,
        runtime: str,
        cache: Path,
        log: Path,
        max_inflight: int | None = None,
        ready_timeout: float = 300.0,
    ) -> None:
        self.port = free_port()
        self.ready_timeout = ready_timeout
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = child_env(
            data_dir=data_dir,
            corpus_dir=corpus,
            embed_runtime=runtime,
            model_cache_dir=cache,
            max_inflight=max_inflight,
        )
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0
        self.started = 0.0

    def __enter__(self) -> Server:
        self.started = started = time.perf_counter()
        with open(self.log, "ab") as log:
            command = [
                sys.executable,
                "-m",
                "verbatim.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ]
            self.proc = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self._tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    self.startup_s = time.perf_counter() - started
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"server never became ready:\n{self._tail()}")

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used (Linux /proc; NaN elsewhere)."""
        try:
            assert self.proc is not None
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, AssertionError, IndexError, ValueError):
            return float("nan")

    def wait_for_warm_up(self, timeout: float = 300) -> float:
        """Wait until the engine's background warm-up has ended (its WARM_UP_ENDED log line): measured
        before that, the first phases share the CPU with it. Seconds since the server was started."""
        from verbatim.service.qa.engine import WARM_UP_ENDED

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.exists() and WARM_UP_ENDED.encode() in self.log.read_bytes():
                return time.perf_counter() - self.started
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self._tail()}")
            time.sleep(0.2)
        raise RuntimeError(f"the server's warm-up did not end in {timeout:.0f} s:\n{self._tail()}")

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def server_side_ms(self, since: int, path: str) -> dict[str, list[float]]:
        """Durations the server itself logged (JSON access lines with `status` and `duration_ms`, from its
        outermost middleware) for `path` since byte `since` of its log, by status; empty if not logged."""
        out: dict[str, list[float]] = {}
        with open(self.log, "rb") as handle:
            handle.seek(since)
            for raw in handle:
                if not raw.startswith(b"{") or b"duration_ms" not in raw:
                    continue
                try:
                    line = json.loads(raw)
                    if line.get("path") == path:
                        out.setdefault(str(line["status"]), []).append(float(line["duration_ms"]))
                except (ValueError, KeyError, TypeError):
                    continue
        return out

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


# ----------------------------------------------------------------------------------- load


@dataclass
class Phase:
    """One load phase's outcome."""

    endpoint: str
    concurrency: int
    new_questions: bool = False  # each question once, none asked of this server before
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    retry_after: int = 0  # 503s that carried a Retry-After header
    server_cpu_s: float = float("nan")  # CPU the server process used during the phase
    server_ms: dict[str, list[float]] = field(default_factory=dict)  # as the server logged them, by status
    ok_ms: list[float] = field(default_factory=list)
    shed_ms: list[float] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")

    def summary(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "concurrency": self.concurrency,
            "new_questions": self.new_questions,
            "requests": self.requests,
            "seconds": self.seconds,
            "rps": self.requests / self.seconds if self.seconds else 0.0,
            "errors": self.errors,
            "statuses": dict(self.statuses),
            **percentiles(self.latencies_ms),
            "max": max(self.latencies_ms, default=float("nan")),
            "server_cpu_ms_per_request": _ms(self.server_cpu_s) / max(self.requests, 1),
        }


def _payload(endpoint: str, question: str) -> dict[str, Any]:
    return {"query": question} if endpoint == "/search" else {"question": question}


async def _request(client: httpx.AsyncClient, endpoint: str, question: str) -> httpx.Response:
    if endpoint == "/healthz":
        return await client.get(endpoint)
    return await client.post(endpoint, json=_payload(endpoint, question))


async def _drive(
    url: str,
    endpoint: str,
    questions: Sequence[str],
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int,
    polite: bool = False,
    new_questions: bool = False,
) -> Phase:
    phase = Phase(endpoint, concurrency, new_questions)
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        for i in range(warmup):
            await _request(client, endpoint, questions[i % len(questions)])
        issued = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal issued
            while issued < requests and time.perf_counter() < deadline:
                question = questions[issued % len(questions)]
                issued += 1
                t0 = time.perf_counter()
                try:
                    response = await _request(client, endpoint, question)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    response, status = None, type(exc).__name__
                elapsed = _ms(time.perf_counter() - t0)
                phase.latencies_ms.append(elapsed)
                phase.statuses[status] += 1
                if status == "200":
                    phase.ok_ms.append(elapsed)
                elif status == "503":
                    phase.shed_ms.append(elapsed)
                    retry_after = response.headers.get("retry-after") if response is not None else None
                    if retry_after:
                        phase.retry_after += 1
                    if polite:  # a well-behaved client waits as told (at most a second here)
                        await asyncio.sleep(
                            min(float(retry_after or 1), 1.0) if _number(retry_after) else 1.0
                        )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.seconds = time.perf_counter() - started
        phase.requests = len(phase.latencies_ms)
    return phase


def _number(text: str | None) -> bool:
    try:
        return text is not None and float(text) >= 0
    except ValueError:
        return False


def drive(
    url: str,
    endpoint: str,
    questions: Sequence[str],
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int | None = None,
    server: Server | None = None,
    polite: bool = False,
    new_questions: bool = False,
) -> Phase:
    """`requests` POSTs (or `seconds`, whichever ends first) from `concurrency` clients; `polite`
    clients wait Retry-After after a 503, the others retry at once. `new_questions`: the questions
    have not been asked of this server, each is asked once and nothing warms up first."""
    if new_questions:
        warm, requests = 0, min(requests, len(questions))
    else:
        warm = max(4, 2 * concurrency) if warmup is None else warmup
    before = server.cpu_seconds() if server else float("nan")
    phase = asyncio.run(
        _drive(url, endpoint, questions, concurrency, requests, seconds, warm, polite, new_questions)
    )
    if server:  # includes the warm-up requests: a slight overestimate
        phase.server_cpu_s = (server.cpu_seconds() - before) * phase.requests / (phase.requests + warm)
    return phase


# ----------------------------------------------------------------------------------- the benchmark


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verbatim bench latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per phase at concurrency 1")
    parser.add_argument(
        "--requests-concurrent", type=int, default=2400, help="requests per phase at the higher concurrency"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="the higher concurrency (default 8)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time cap per phase")
    parser.add_argument("--floor-rounds", type=int, default=300, help="in-process floor measurements")
    parser.add_argument("--overload-concurrency", type=int, default=128)
    parser.add_argument("--overload-inflight", type=int, default=8, help="max_inflight of the probed server")
    parser.add_argument("--overload-requests", type=int, default=1024)
    parser.add_argument("--runtime", choices=["onnx", "torch"], default="onnx", help="embed runtime")
    parser.add_argument("--corpus", type=Path, default=SEEDS, help="corpus to serve (default: seeds/)")
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=None,
        help="where the int8 ONNX export is cached (default: the configured one)",
    )
    parser.add_argument("--json", type=Path, default=REPORTS / "bench_latency.json", help="report path")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of in-process answers")
    parser.add_argument("--quick", action="store_true", help="a few requests per phase (smoke test)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the latency benchmark; 0 when it ran (goals are reported, not enforced)."""
    args = build_parser().parse_args(argv)
    if args.quick:
        args.requests, args.requests_concurrent, args.seconds = 20, 40, 10.0
        args.floor_rounds, args.overload_concurrency, args.overload_inflight = 20, 32, 4
        args.overload_requests = 96
    with tempfile.TemporaryDirectory(prefix="verbatim-bench-latency-") as tmp:
        return _bench(args, Path(tmp))


def _bench(args: argparse.Namespace, work: Path) -> int:
    cache = (args.model_cache or default_model_cache()).resolve()
    corpus = args.corpus.resolve()
    ordered = load_questions(limit=None)
    questions, unseen = ordered[:60], ordered[60:]  # the repeated set, and questions it never asks
    load_before = load_average()
    base = work / "base"
    print(f"… ingesting {corpus}", file=sys.stderr, flush=True)
    ingest = ingest_child(base, corpus, args.runtime, cache)
    for name in ("serve", "overload"):
        shutil.copytree(base, work / name)
    print("… floor (in-process)", file=sys.stderr, flush=True)
    floor = measure_floor(
        _settings(base, corpus, args.runtime, cache), questions, args.floor_rounds, args.profile
    )
    phases: list[Phase] = []
    with Server(work / "serve", corpus, args.runtime, cache, work / "serve.log") as server:
        print("… waiting for the server's background warm-up", file=sys.stderr, flush=True)
        warm_up = server.wait_for_warm_up()
        print("… /healthz at concurrency 1 (the HTTP stack alone)", file=sys.stderr, flush=True)
        phases.append(drive(server.url, "/healthz", questions, 1, args.requests, args.seconds, server=server))
        if unseen:
            print(
                f"… /ask at concurrency 1 on {min(len(unseen), args.requests)} questions not asked before",
                file=sys.stderr,
                flush=True,
            )
            phases.append(
                drive(
                    server.url,
                    "/ask",
                    unseen,
                    1,
                    args.requests,
                    args.seconds,
                    server=server,
                    new_questions=True,
                )
            )
        for concurrency, requests in ((1, args.requests), (args.concurrency, args.requests_concurrent)):
            for endpoint in ("/search", "/ask"):
                print(f"… {endpoint} at concurrency {concurrency}", file=sys.stderr, flush=True)
                phases.append(
                    drive(server.url, endpoint, questions, concurrency, requests, args.seconds, server=server)
                )
        startup = server.startup_s
    print(
        f"… overload: concurrency {args.overload_concurrency} against max_inflight {args.overload_inflight}",
        file=sys.stderr,
        flush=True,
    )
    with Server(
        work / "overload",
        corpus,
        args.runtime,
        cache,
        work / "overload.log",
        max_inflight=args.overload_inflight,
    ) as server:
        server.wait_for_warm_up()
        probes: dict[bool, Phase] = {}
        for polite in (False, True):
            since = server.log_size()
            probes[polite] = drive(
                server.url,
                "/ask",
                questions,
                args.overload_concurrency,
                args.overload_requests,
                args.seconds,
                warmup=4,
                polite=polite,
            )
            probes[polite].server_ms = server.server_side_ms(since, "/ask")
    report = _report(args, floor, ingest, phases, probes, startup, warm_up, load_before)
    path = write_report(args.json, report)
    print(render(report))
    if args.profile:
        print(floor["profile"])
    print(f"report: {path}")
    return 0


def _report(
    args: argparse.Namespace,
    floor: dict[str, Any],
    ingest: dict[str, Any],
    phases: list[Phase],
    probes: dict[bool, Phase],
    startup: float,
    warm_up: float,
    load_before: list[float],
) -> dict[str, Any]:
    results = [p.summary() for p in phases]
    repeated = [r for r in results if not r["new_questions"]]
    ask1 = next(r for r in repeated if r["endpoint"] == "/ask" and r["concurrency"] == 1)
    askc = next(r for r in repeated if r["endpoint"] == "/ask" and r["concurrency"] == args.concurrency)
    ratio = ask1["p50"] / floor["floor_ms"]["p50"]
    overload = {
        ("polite" if polite else "hammer"): _overload(probe, args.overload_inflight)
        for polite, probe in probes.items()
    }
    # Transport errors (a keep-alive connection closed under the client) are reported, not a failure to shed.
    sheds = all(
        o["shed"] > 0 and o["shed_with_retry_after"] == o["shed"] and o["other_statuses"] == 0
        for o in overload.values()
    )
    c = args.concurrency

    def goal(text: str, value: float, met: bool) -> dict[str, Any]:
        return {"goal": text, "value": value, "met": met}

    goals = {
        "ask_c1_p50_ms": goal(f"< {GOAL_ASK_P50_MS}", ask1["p50"], ask1["p50"] < GOAL_ASK_P50_MS),
        "ask_p50_over_floor": goal(f"<= {GOAL_FLOOR_RATIO}", ratio, ratio <= GOAL_FLOOR_RATIO),
        f"ask_c{c}_rps": goal(f">= {GOAL_C8_RPS}", askc["rps"], askc["rps"] >= GOAL_C8_RPS),
        f"ask_c{c}_p99_ms": goal(f"< {GOAL_C8_P99_MS}", askc["p99"], askc["p99"] < GOAL_C8_P99_MS),
        f"ask_c{c}_errors": goal("== 0", askc["errors"], askc["errors"] == 0),
        "overload_sheds_with_503_retry_after": goal("true", float(sheds), sheds),
    }
    floor_out = {k: v for k, v in floor.items() if k != "profile"}
    return {
        "benchmark": "latency",
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "runtime": args.runtime,
        "ingest": ingest,
        "server_startup_s": startup,
        "server_warm_up_s": warm_up,
        "floor": floor_out,
        "phases": results,
        "ask_p50_over_floor_p50": ratio,
        "overload": overload,
        "goals": goals,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }


def _overload(probe: Phase, max_inflight: int) -> dict[str, Any]:
    return {
        **probe.summary(),
        "max_inflight": max_inflight,
        "shed": probe.statuses.get("503", 0),
        "accepted": probe.statuses.get("200", 0),
        "shed_with_retry_after": probe.retry_after,
        "accepted_ms": {**percentiles(probe.ok_ms), "max": max(probe.ok_ms, default=float("nan"))},
        "shed_ms": percentiles(probe.shed_ms),
        "server_side_ms": {
            status: {**percentiles(v), "max": max(v)} for status, v in probe.server_ms.items()
        },
        "other_errors": sum(n for s, n in probe.statuses.items() if s not in ("200", "503")),
        "other_statuses": sum(
            n for s, n in probe.statuses.items() if s.isdigit() and s not in ("200", "503")
        ),
    }


def render(report: dict[str, Any]) -> str:
    """The human-readable report."""
    f = report["floor"]
    k = f["fetch"]

    def pair(name: str) -> str:
        return f"p50 {f[name]['p50']:.2f} / p95 {f[name]['p95']:.2f} ms"

    out = [
        f"Latency benchmark ({report['runtime']} encoder, extractive backend): "
        f"{report['machine']['cpus']} CPUs, load average {report['load_average_before']} before, "
        f"{report['load_average_after']} after",
        f"index: {report['ingest']['documents']} documents, {f['chunks']} chunks; server ready in "
        f"{report['server_startup_s']:.1f} s, its background warm-up ended at "
        f"{report['server_warm_up_s']:.1f} s (the phases start after it)",
        f"floor (in-process, {f['rounds']} rounds): embed + Chroma k={k} {pair('floor_ms')}",
        f"  embed {pair('embed_ms')}; Chroma k={k} {pair(f'chroma_k{k}_ms')}; "
        f"Chroma k=5 {pair('chroma_k5_ms')}",
        f"  answer (no HTTP) {pair('engine_ask_ms')}; Engine.search {pair('engine_search_ms')}",
        "",
    ]
    headers = [
        "endpoint",
        "conc",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "server CPU ms/req",
    ]
    rows = [
        [
            p["endpoint"] + (" new" if p["new_questions"] else ""),
            p["concurrency"],
            p["requests"],
            p["errors"],
            p["rps"],
            p["p50"],
            p["p95"],
            p["p99"],
            p["max"],
            p["server_cpu_ms_per_request"],
        ]
        for p in report["phases"]
    ]
    out += [table(headers, rows)]
    if any(p["new_questions"] for p in report["phases"]):
        out.append(
            "(/ask new: questions not asked of the server before, each once: their words not in the "
            "index get word vectors on the way; the other rows repeat a set of 60)"
        )
    out.append("")
    out.append(f"/ask p50 / floor p50 = {report['ask_p50_over_floor_p50']:.2f}")
    for kind, o in report["overload"].items():
        ok, shed = o["accepted_ms"], o["shed_ms"]
        clients = "clients retry at once" if kind == "hammer" else "clients wait Retry-After"
        out.append(
            f"overload ({clients}): /ask at concurrency {o['concurrency']} against max_inflight "
            f"{o['max_inflight']}: {o['requests']} requests in {o['seconds']:.1f} s, "
            f"{o['accepted']} answered 200, {o['shed']} shed with 503 "
            f"({o['shed_with_retry_after']} with Retry-After), "
            f"{o['other_errors']} other errors; accepted p50 {ok['p50']:.1f} / p99 {ok['p99']:.1f} / "
            f"max {ok['max']:.1f} ms; 503 p50 {shed['p50']:.1f} ms"
        )
        logged = o["server_side_ms"]
        if logged.get("200") and logged.get("503"):
            ok, shed = logged["200"], logged["503"]
            out.append(
                f"  as the server logged them (from its outermost middleware): 200 p50 {ok['p50']:.1f} / "
                f"p99 {ok['p99']:.1f} / max {ok['max']:.1f} ms; 503 p50 {shed['p50']:.2f} / p99 "
                f"{shed['p99']:.2f} ms (the rest of the client's wait is before the app: connections queued "
                "in the kernel and the event loop)"
            )
    for name, g in report["goals"].items():
        out.append(f"goal {name} {g['goal']}: {g['value']:.3f} {'MET' if g['met'] else 'MISSED'}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
