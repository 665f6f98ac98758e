"""Helpers shared by the benchmarks (`evals.bench_ingest`, `evals.bench_latency`, `evals.bench_scale`)."""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
REPORTS = REPO / "reports"
MB = 1_000_000  # "MB" in every figure means 10^6 bytes


def default_model_cache() -> Path:
    """Where the int8 ONNX export is cached: the configured one, so a benchmark reuses `verbatim serve`'s."""
    from verbatim.settings import Settings

    return Settings().models_dir.resolve()


def child_env(**verbatim: object) -> dict[str, str]:
    """This process's environment without any VERBATIM_* variable (no API keys, rate limits or Chroma
    server leak into a benchmark), plus the given settings as VERBATIM_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBATIM_")}
    env.update({f"VERBATIM_{k.upper()}": str(v) for k, v in verbatim.items() if v is not None})
    env.setdefault("ANONYMIZED_TELEMETRY", "False")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def ingest_child(
    data_dir: Path,
    corpus: Path,
    runtime: str,
    cache: Path,
    timeout: float | None = 1800,
    dry_run: bool = False,
    log: Path | None = None,
) -> dict[str, Any]:
    """Ingest in a child process (the parent must not hold the embedded store it later copies);
    `dry_run`: read, clean and chunk only (chunk counts without embedding or writing); `log`: a file
    its progress lines are appended to as they come (a long ingest can be followed)."""
    env = child_env(data_dir=data_dir, corpus_dir=corpus, embed_runtime=runtime, model_cache_dir=cache)
    started = time.perf_counter()
    command = [sys.executable, "-m", "verbatim.cli", "ingest", "--json", *(["--dry-run"] if dry_run else [])]
    if log is None:
        proc = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        errors = proc.stderr
    else:
        with open(log, "a", encoding="utf-8") as handle:
            proc = subprocess.run(
                command,
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=handle,
                text=True,
                timeout=timeout,
                check=False,
            )
        errors = log.read_text(encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"ingest failed:\n{errors[-4000:]}")
    report = json.loads(proc.stdout)
    return {
        "documents": report["documents"],
        "chunks": report["chunks"],
        "seconds": report["seconds"],
        "skipped": len(report["skipped"]),
        "wall_s": time.perf_counter() - started,
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (getrusage ru_maxrss), in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / MB


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> list[float]:
    """1-, 5- and 15-minute load averages (the machine is shared: report them with every figure)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": load_average(),
    }


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(samples: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """{"p50": ..., ...} of the samples (NaN when there are none)."""
    if not samples:
        return {f"p{p}": float("nan") for p in points}
    values = np.percentile(np.asarray(samples, dtype=float), list(points))
    return {f"p{p}": float(v) for p, v in zip(points, values, strict=True)}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def write_report(path: Path, data: dict[str, Any]) -> Path:
    """Write a JSON report (folders created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    return path
