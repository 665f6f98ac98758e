"""The benchmarks run end to end in their quick mode and print every figure, as numbers."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from verbatim.evals import bench_ingest, bench_latency

REPO = Path(__file__).resolve().parents[1]
MODEL_CACHE = Path(os.environ.get("VERBATIM_TEST_MODEL_CACHE", REPO / "data" / "test-models"))
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _row(output: str, *first: str) -> list[float]:
    """The numeric cells of the table row that starts with the given cells."""
    for line in output.splitlines():
        cells = line.split()
        if cells[: len(first)] == list(first):
            rest = cells[len(first) :]
            assert rest and all(NUMBER.fullmatch(c) for c in rest), line
            return [float(c) for c in rest]
    raise AssertionError(f"no row {first!r} in:\n{output}")


@pytest.mark.timeout(240)
def test_ingest_benchmark_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "bench_ingest.json"
    assert bench_ingest.main(["--quick", "--model-cache", str(MODEL_CACHE), "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("corpus"))
    for column in ("docs", "chunks", "seconds", "chunks/s", "MB/min", "peak MB", "rerun s", "rerun CLI s"):
        assert column in header
    docs, chunks, mb, seconds, rate, mb_min, peak, rerun, rerun_cli = _row(out, "seeds", "auto")
    assert docs == 5 and chunks > 0 and 0 < mb < 1
    assert seconds > 0 and rate > 0 and mb_min > 0 and peak > 50 and rerun >= 0 and rerun_cli > 0
    run = json.loads(report_path.read_text())["runs"][0]
    assert run["rerun_embedded"] == 0 and run["rerun_cli"]["embedded"] == 0
    figures = ("documents", "chunks", "seconds", "chunks_per_s", "mb_per_min", "peak_rss_mb", "rerun_s")
    assert all(isinstance(run[k], int | float) and math.isfinite(run[k]) for k in figures)


@pytest.mark.timeout(240)
def test_latency_benchmark_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "bench_latency.json"
    assert bench_latency.main(["--quick", "--model-cache", str(MODEL_CACHE), "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    floor = re.search(r"floor \(in-process.*p50 (\S+) / p95 (\S+) ms", out)
    assert floor and all(float(x) > 0 for x in floor.groups())
    for endpoint, concurrency in (
        ("/healthz", "1"),
        ("/search", "1"),
        ("/ask", "1"),
        ("/search", "8"),
        ("/ask", "8"),
    ):
        requests, errors, rps, p50, p95, p99, _, cpu_ms = _row(out, endpoint, concurrency)
        statuses = [p["statuses"] for p in json.loads(report_path.read_text())["phases"]]
        assert requests > 0 and errors == 0, f"{endpoint} c={concurrency}: {statuses}\n{out}"
        assert rps > 0 and 0 < p50 <= p95 <= p99 and cpu_ms >= 0
    # Questions the server has not been asked, each once: what a new question costs.
    requests, errors, rps, p50, p95, p99, _, cpu_ms = _row(out, "/ask", "new", "1")
    assert requests == 20 and errors == 0 and 0 < p50 <= p95 <= p99
    fresh = next(p for p in json.loads(report_path.read_text())["phases"] if p["new_questions"])
    assert fresh["endpoint"] == "/ask" and fresh["statuses"] == {"200": 20}
    ratio = re.search(r"/ask p50 / floor p50 = (\S+)", out)
    assert ratio and float(ratio.group(1)) > 0
    report = json.loads(report_path.read_text())
    warm_up = re.search(r"background warm-up ended at (\S+) s", out)
    assert warm_up and 0 < report["server_startup_s"] <= float(warm_up.group(1)) == round(
        report["server_warm_up_s"], 1
    )
    for overload in report["overload"].values():
        assert overload["shed"] > 0 and overload["shed_with_retry_after"] == overload["shed"]
        assert overload["other_statuses"] == 0
    assert set(report["goals"]) >= {"ask_c1_p50_ms", "ask_p50_over_floor", "ask_c8_rps", "ask_c8_p99_ms"}
