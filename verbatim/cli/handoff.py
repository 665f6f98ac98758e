"""One `verbatim serve` owns a data dir; the CLI finds it and hands work to it instead of opening the
embedded store from a second process (embedded Chroma is not safe for two writers).

Ownership is an OS file lock (`server.lock`, flock) held for the server's life: the kernel releases it
when the process ends, however it ends (SIGKILL included), so no crash leaves a data dir locked.
`server.json` says where the owner listens and which corpus it serves; it is written by the lock
holder, removed when it stops, and ignored when no process holds the lock (left by a killed server).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from verbatim.settings import Settings

STATE_FILE = "server.json"
LOCK_FILE = "server.lock"


@dataclass(frozen=True)
class ServerInfo:
    """What a running server advertises in its data dir."""

    url: str
    pid: int
    corpus: str
    data_dir: str

    def describe(self) -> str:
        return f"{self.url} (pid {self.pid}, corpus {self.corpus})"


class DataDirTaken(RuntimeError):
    """Another server owns the data dir."""

    def __init__(self, settings: Settings, owner: ServerInfo | None) -> None:
        who = owner.describe() if owner else "another process (it has not said where it listens)"
        super().__init__(
            f"the data dir {settings.data_dir} is in use by a running server: {who}. One server owns a "
            "data dir at a time: stop it first, or give this one another VERBATIM_DATA_DIR"
        )
        self.owner = owner


def _read_state(settings: Settings) -> ServerInfo | None:
    try:
        state = json.loads((settings.data_dir / STATE_FILE).read_text(encoding="utf-8"))
        return ServerInfo(
            url=str(state["url"]),
            pid=int(state["pid"]),
            corpus=str(state.get("corpus", "")),
            data_dir=str(state.get("data_dir", settings.data_dir)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def lock_held(settings: Settings) -> bool:
    """True when some process holds the data dir's server lock (a live server owns it)."""
    path = settings.data_dir / LOCK_FILE
    try:
        handle = open(path, "a+")  # noqa: SIM115 (closed below whatever happens)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        handle.close()  # closing releases a lock we may have taken
    return False


def server_info(settings: Settings) -> ServerInfo | None:
    """The live server owning this data dir, if any (a stale server.json is ignored)."""
    if not lock_held(settings):
        return None
    info = _read_state(settings)
    if info is None:
        return None
    try:
        if httpx.get(f"{info.url}/healthz", timeout=2.0).status_code == 200:
            return info
    except httpx.HTTPError:
        return None
    return None


def running_server(settings: Settings) -> str | None:
    """Base URL of a live server on this data dir, if any."""
    info = server_info(settings)
    return info.url if info else None


def auth_headers(settings: Settings, admin: bool = False) -> dict[str, str]:
    keys = settings.admin_key_list() if admin else settings.api_key_list()
    return {"Authorization": f"Bearer {keys[0]}"} if keys else {}


@contextmanager
def own_data_dir(settings: Settings, host: str, port: int) -> Iterator[ServerInfo]:
    """Take the data dir for this process (DataDirTaken if another server has it) and advertise where
    this server listens until the block ends."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(settings.data_dir / LOCK_FILE, "a+")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirTaken(settings, _read_state(settings)) from None
    connect = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    info = ServerInfo(
        url=f"http://{connect}:{port}",
        pid=os.getpid(),
        corpus=str(Path(settings.corpus_dir).resolve()),
        data_dir=str(Path(settings.data_dir).resolve()),
    )
    path = settings.data_dir / STATE_FILE
    path.write_text(json.dumps(info.__dict__), encoding="utf-8")
    try:
        yield info
    finally:
        path.unlink(missing_ok=True)
        handle.close()  # releases the lock
