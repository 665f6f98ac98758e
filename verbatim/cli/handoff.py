"""Find a `verbatim serve` that owns the data dir, so the CLI hands work to it instead of opening
the embedded store from a second process (embedded Chroma is not safe for two writers)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from verbatim.settings import Settings

STATE_FILE = "server.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_server(settings: Settings) -> str | None:
    """Base URL of a live server on this data dir, if any."""
    path = settings.data_dir / STATE_FILE
    try:
        state = json.loads(path.read_text())
        url, pid = str(state["url"]), int(state["pid"])
    except (OSError, ValueError, KeyError):
        return None
    if not _pid_alive(pid):
        return None
    try:
        if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
            return url
    except httpx.HTTPError:
        return None
    return None


def auth_headers(settings: Settings) -> dict[str, str]:
    keys = settings.api_key_list()
    return {"Authorization": f"Bearer {keys[0]}"} if keys else {}


@contextmanager
def registered(settings: Settings, host: str, port: int) -> Iterator[None]:
    """Advertise this server in the data dir while it runs."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / STATE_FILE
    connect = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    path.write_text(json.dumps({"url": f"http://{connect}:{port}", "pid": os.getpid()}))
    try:
        yield
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
