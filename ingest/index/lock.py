"""One ingest at a time per data dir: a second one waits (up to a limit) or refuses clearly."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class IngestBusy(RuntimeError):
    """Another ingest holds the lock."""


@contextmanager
def ingest_lock(data_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """An OS file lock (released by the kernel if the holder dies, so a killed ingest never blocks)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "ingest.lock"
    deadline = time.monotonic() + wait
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise IngestBusy(
                        f"another ingest is running ({holder}); try again when it ends"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
