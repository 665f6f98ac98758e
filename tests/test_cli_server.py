"""`verbatim serve --corpus`, one server per data dir, and the CLI beside a running server."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests._servers import clean_env, run_cli
from tests.conftest import REPO, SEEDS, free_port, make_settings
from verbatim.cli.handoff import LOCK_FILE, STATE_FILE, running_server

pytestmark = pytest.mark.slow


class Serve:
    """`verbatim serve` as a child process."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "verbatim.cli", "serve", "--port", str(self.port), *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("server never became ready")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=60)
        return out, err


def test_serve_owns_its_data_dir_and_the_cli_follows_it(tmp_path: Path) -> None:
    data, corpus, other = tmp_path / "data", tmp_path / "mydocs", tmp_path / "other"
    shutil.copytree(SEEDS, corpus)
    other.mkdir()
    (other / "x.txt").write_text("Another corpus.\n")
    env = clean_env(VERBATIM_DATA_DIR=data)
    server = Serve(env, "--corpus", str(corpus))
    try:
        server.wait_ready()
        state = json.loads((data / STATE_FILE).read_text())
        assert state["pid"] == server.proc.pid and state["corpus"] == str(corpus.resolve())
        assert running_server(make_settings(data)) == server.url

        # A second server on the same data dir is refused, naming the first.
        second = run_cli(["serve", "--port", str(free_port())], env, timeout=120)
        assert second.returncode == 2, second.stderr
        assert server.url in second.stderr and f"pid {server.proc.pid}" in second.stderr
        assert "VERBATIM_DATA_DIR" in second.stderr and "Traceback" not in second.stderr

        # Another corpus: refused with which server, which corpus and what to do; nothing ingested.
        for cli_env, args in (
            (env, ["ingest", "--corpus", str(other)]),
            ({**env, "VERBATIM_CORPUS_DIR": str(other)}, ["ingest"]),
        ):
            done = run_cli(args, cli_env)
            assert done.returncode == 2, done.stderr
            for part in (
                server.url,
                f"pid {server.proc.pid}",
                str(corpus.resolve()),
                "verbatim serve --corpus",
            ):
                assert part in done.stderr, (part, done.stderr)
        # A path outside the corpus: a hint of --corpus.
        done = run_cli(["ingest", str(other / "x.txt")], env)
        assert done.returncode == 2 and "--corpus" in done.stderr and "outside the corpus root" in done.stderr

        # The server's own corpus: through the server, as a job with progress lines.
        (corpus / "new.txt").write_text("The bridge reopens on the first of May after repairs.\n")
        done = run_cli(["ingest"], env)
        assert done.returncode == 0, done.stderr
        assert "ingesting through it" in done.stderr and "ingest 6/6" in done.stderr.replace(" new.txt", "")
        assert "1 indexed" in done.stdout
        sources = {d["source"] for d in httpx.get(f"{server.url}/documents").json()["documents"]}
        assert "new.txt" in sources

        # Piped into head: ends quietly.
        piped = subprocess.run(
            f"{sys.executable} -m verbatim.cli ask --json --url {server.url} 'When does the bridge reopen?' "
            "| head -c 10",
            shell=True,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert piped.stdout.startswith("{") and "Traceback" not in piped.stderr, piped.stderr
    finally:
        out, _ = server.stop(signal.SIGTERM)
    assert server.proc.returncode == 0
    assert f"Verbatim listening on {server.url} (corpus {corpus.resolve()}, data {data.resolve()})" in out
    assert not (data / STATE_FILE).exists()  # removed on SIGTERM


def test_a_killed_server_leaves_no_lock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = clean_env(VERBATIM_DATA_DIR=data, VERBATIM_CORPUS_DIR=SEEDS)
    first = Serve(env)
    first.wait_ready()
    first.stop(signal.SIGKILL)
    assert (data / STATE_FILE).exists() and (data / LOCK_FILE).exists()  # left behind, but stale
    assert running_server(make_settings(data)) is None
    second = Serve(env)
    try:
        second.wait_ready()
        assert json.loads((data / STATE_FILE).read_text())["pid"] == second.proc.pid
    finally:
        second.stop(signal.SIGINT)
    assert second.proc.returncode == 0 and not (data / STATE_FILE).exists()


def test_help_version_and_defaults() -> None:
    env = clean_env()
    version = run_cli(["--version"], env, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("verbatim ")
    for command in ("ingest", "serve", "ask", "bot"):
        done = run_cli([command, "--help"], env, timeout=60)
        assert done.returncode == 0, done.stderr
        options = [line for line in done.stdout.splitlines() if line.strip().startswith("--")]
        assert options, command
        text = " ".join(done.stdout.split())
        for flag in ("--host", "--port", "--corpus", "--top-k", "--wait"):
            if f"{flag} " in text:
                assert "default" in text.split(flag, 1)[1][:220], (command, flag)
    bench = run_cli(["bench", "--help"], env, timeout=60)
    assert "{ingest,latency,scale}" in bench.stdout and "args" not in bench.stdout.split()


def test_first_start_prints_only_verbatims_own_lines(tmp_path: Path) -> None:
    """An empty data dir and no model export yet: the int8 export and the seeds ingest print nothing
    of the libraries' informational chatter."""
    env = clean_env(
        VERBATIM_DATA_DIR=tmp_path / "data",
        VERBATIM_MODEL_CACHE_DIR=tmp_path / "models",
        VERBATIM_CORPUS_DIR=SEEDS,
    )
    server = Serve(env)
    try:
        server.wait_ready()
    finally:
        out, err = server.stop(signal.SIGTERM)
    assert out.strip().splitlines() == [
        f"Verbatim listening on {server.url} (corpus {SEEDS.resolve()}, data {(tmp_path / 'data').resolve()})"
    ]
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and any(line["logger"].startswith("verbatim") for line in lines)
    strangers = [
        line
        for line in lines
        if not line["logger"].startswith(("verbatim", "uvicorn"))
        and line["level"] not in ("warning", "error")
    ]
    assert not strangers, strangers[:3]
