"""Append-only JSON-lines log of helpful / not-helpful clicks.

One JSON object per line so the log can be tailed, grepped and loaded by the eval tooling
without a database; writes happen in a worker thread under a lock so the event loop never
blocks on disk and concurrent clicks never interleave within a line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("verbatim.bot.feedback")


class FeedbackLog:
    """Writes feedback records to `path` (created with its parent directory on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _append(self, line: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)

    async def record(self, entry: dict[str, Any]) -> bool:
        """Append one record; returns False (and logs) instead of raising if the disk refuses."""
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
        try:
            await asyncio.to_thread(self._append, line)
        except OSError:
            log.exception("could not write feedback to %s", self.path)
            return False
        return True

    def read(self) -> list[dict[str, Any]]:
        """All records so far (for tests and offline analysis)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
