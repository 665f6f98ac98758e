"""Helpers for the production-readiness tests: API processes, CLI jobs, whole-index checks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import MODEL_CACHE, REPO, free_port, read_source
from verbatim.ingest.index.store import IndexStore
from verbatim.settings import Settings


def clean_env(**values: object) -> dict[str, str]:
    """This process's environment without any VERBATIM_/SLACK_ variable, plus `values` (names as given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERBATIM_", "SLACK_"))}
    env.update(
        {
            "VERBATIM_MODEL_CACHE_DIR": str(MODEL_CACHE),
            "VERBATIM_REFRESH_INTERVAL": "0.5",
            "PYTHONUNBUFFERED": "1",
            "ANONYMIZED_TELEMETRY": "False",
        }
    )
    env.update({k: str(v) for k, v in values.items()})
    return env


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 300, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`verbatim ARGS` in a child process (`prefix`: e.g. a command that drops privileges)."""
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "verbatim.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ApiProcess:
    """`uvicorn service.app:create_app --factory` in its own process, configured by its environment."""

    def __init__(
        self, env: dict[str, str], log_path: Path, port: int | None = None, prefix: list[str] | None = None
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = prefix or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *self.prefix,
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "verbatim.service.api.app:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 180, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Poll /readyz until 200; fail with the log's tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"API exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{self.url}/readyz", headers=headers, timeout=10)
                if r.status_code == 200:
                    return dict(r.json())
                last = r.text
            time.sleep(0.3)
        raise AssertionError(f"API not ready after {timeout} s ({last}):\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.proc = None

    def __enter__(self) -> ApiProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def check_whole_index(settings: Settings) -> dict[str, int]:
    """The offset invariant over every chunk the index serves, and nothing lost or left over.

    Every committed document hashes like its file on disk, owns exactly the chunks its record counts,
    and every chunk's text is `file[start:end]`. Returns chunk counts (served, stored).
    """
    store = IndexStore(settings)
    manifest = store.manifest()
    chunks = store.load_chunks(manifest)
    texts: dict[str, str] = {}
    per_doc: dict[str, int] = {}
    for record in manifest.values():
        raw = (settings.corpus_dir / record.source).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == record.sha256, f"{record.source}: index is stale"
        texts[record.source] = read_source(settings.corpus_dir, record.source)
    for chunk in chunks:
        assert texts[chunk.source][chunk.start : chunk.end] == chunk.text, f"{chunk.chunk_id}, {chunk.source}"
        per_doc[chunk.source] = per_doc.get(chunk.source, 0) + 1
    for record in manifest.values():
        assert per_doc.get(record.source, 0) == record.chunks, f"{record.source}: chunks lost or duplicated"
    return {"served": len(chunks), "stored": store.count(), "documents": len(manifest)}


def unprivileged_prefix() -> list[str] | None:
    """A command prefix that runs as `nobody` when we are root (root ignores file permissions): [] when
    already unprivileged, None when root cannot drop privileges here (no setpriv)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
