"""Shared fixtures: settings on temp dirs, one int8 model export per machine, live servers on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from verbatim.ingest.index.embedder import Encoder, load_encoder
from verbatim.service.qa.answering import Answering
from verbatim.service.qa.engine import Engine
from verbatim.service.qa.schemas import AskRequest, AskResponse
from verbatim.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
# The int8 export takes seconds: share it between test sessions (data/ is git-ignored).
MODEL_CACHE = Path(os.environ.get("VERBATIM_TEST_MODEL_CACHE", REPO / "data" / "test-models"))


def make_settings(data_dir: Path, corpus_dir: Path = SEEDS, **overrides: object) -> Settings:
    """Settings for a test: its own data dir, the shared model cache, a fast index refresh."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "corpus_dir": corpus_dir,
        "model_cache_dir": MODEL_CACHE,
        "refresh_interval": 0.2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def read_source(corpus: Path, source: str) -> str:
    """A file's text exactly as offsets are defined."""
    with open(corpus / source, encoding="utf-8", newline="") as handle:
        return handle.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return load_encoder(make_settings(MODEL_CACHE.parent / "unused"))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the seeds (tests may change it)."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture(scope="session")
def seeded_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine over the seeds, ingested once for the session."""
    engine = Engine(make_settings(tmp_path_factory.mktemp("seeded") / "data"))
    engine.start()
    yield engine
    engine.stop()


class LiveServer:
    """uvicorn serving an ASGI app in a thread on a free loopback port."""

    def __init__(self, app: object, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server never became ready")

    def quiesce(self, timeout: float = 5) -> None:
        """Wait until no request is still running on the server: a streamed response's client has
        everything before the server's middleware logs it, and a line logged after the test has
        ended would land in pytest's terminal output."""
        deadline = time.monotonic() + timeout
        while self.server.server_state.tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class ChromaServer:
    """A real `chroma run` server on a loopback port (stopped by the test; restartable)."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChromaServer:
        chroma = Path(sys.executable).with_name("chroma")
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("chroma server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-server").start()
    yield server
    server.stop()


def ask(engine: Engine, request: AskRequest) -> AskResponse:
    """An answer through the one front door (`Answering`), as the API and the CLI get it."""
    return Answering(engine.settings, engine).answer(request)
