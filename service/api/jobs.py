"""Ingest jobs: work the server does after answering 202, one at a time, with progress to poll.

One worker thread runs jobs in order (ingests of one data dir are serial anyway); the last jobs are
kept in memory for `GET /jobs/{id}` (a restart forgets them: the index itself is the durable record).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from verbatim.ingest.pipeline import IngestReport
from verbatim.service.qa.engine import Engine

log = logging.getLogger("verbatim.jobs")
State = Literal["queued", "running", "done", "failed"]
KEEP = 200  # finished jobs remembered
WAIT_FOR_LOCK = 600.0  # an ingest started elsewhere (the CLI in-process) is waited for, not refused


@dataclass
class Job:
    """What `GET /jobs/{id}` shows (plus, once done, the full ingest report)."""

    id: str
    state: State = "queued"
    done: int = 0
    total: int = 0
    current: str | None = None
    files: list[dict[str, str | None]] = field(default_factory=list)
    error: str | None = None
    report: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)

    def view(self) -> dict[str, Any]:
        data = asdict(self)
        data["job"] = data.pop("id")
        data.pop("created")
        return data


def outcomes(report: IngestReport, seen: list[str]) -> list[dict[str, str | None]]:
    """Each file an ingest saw, with what happened to it."""
    indexed = {str(d["source"]) for d in report.per_document}
    skipped = {s["source"]: s["reason"] for s in report.skipped}
    out: list[dict[str, str | None]] = []
    for source in dict.fromkeys([*seen, *skipped]):
        if source in skipped:
            out.append({"source": source, "outcome": "skipped", "reason": skipped[source]})
        elif source in indexed:
            out.append({"source": source, "outcome": "indexed", "reason": None})
        else:
            out.append({"source": source, "outcome": "unchanged", "reason": None})
    return out


class Jobs:
    """The server's job queue (one worker)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-job")

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def submit_ingest(self, paths: list[Path] | None, sources: list[str] | None = None) -> Job:
        """Queue an ingest of `paths` (None = the corpus); `sources` are listed at once as expected."""
        job = Job(id=uuid.uuid4().hex, total=len(sources or []))
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, paths, list(sources or []))
        return job

    def _run(self, job: Job, paths: list[Path] | None, expected: list[str]) -> None:
        seen: list[str] = []

        def progress(source: str, done: int, total: int) -> None:
            seen.append(source)
            job.current, job.done, job.total = source, done, total

        job.state = "running"
        try:
            report = self.engine.ingest(paths, wait=WAIT_FOR_LOCK, progress=progress)
        except Exception as exc:  # every failure is reported on the job, never lost in a thread
            log.warning("ingest job %s failed: %s", job.id, exc)
            job.error = str(exc) or type(exc).__name__
            failed = dict.fromkeys([*seen, *expected])
            job.files = [{"source": s, "outcome": "failed", "reason": job.error} for s in failed]
            job.state = "failed"
            return
        job.files = outcomes(report, seen)
        job.report = report.__dict__
        job.total = max(job.total, len(job.files))
        job.done = job.total
        job.state = "done"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
