"""POST /admin/ingest and GET /jobs/{id}."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from verbatim.ingest.reader import discover, source_name
from verbatim.service.api.deps import Admin, EngineDep, JobsDep, SettingsDep
from verbatim.service.qa.errors import IndexNotWritable, InvalidRequest
from verbatim.service.qa.schemas import IngestRequest

router = APIRouter(tags=["ops"])


@router.post(
    "/admin/ingest",
    dependencies=[Admin],
    responses={202: {}, 400: {}, 401: {}, 403: {}, 409: {}, 415: {}, 422: {}, 503: {}},
)
async def admin_ingest(
    body: IngestRequest,
    engine: EngineDep,
    settings: SettingsDep,
    jobs: JobsDep,
    job: bool = Query(default=False, description="answer 202 with a job to poll at /jobs/{id}"),
) -> Any:
    """Ingest through the running server (the CLI hands work here so one process owns the store):
    the report when done, or with `?job=true` a job at once."""
    root = settings.corpus_dir
    paths = [_inside_corpus(root, p) for p in body.paths] if body.paths else None
    try:
        if job and not body.dry_run:
            # The paths are checked now, so a wrong one is a 422 here rather than a failed job later.
            files = await run_in_threadpool(lambda: list(discover(paths or [root], root)))
            started = jobs.submit_ingest(paths, [source_name(f, root) for f in files])
            return JSONResponse(started.view(), status_code=202, headers={"Location": f"/jobs/{started.id}"})
        report = await run_in_threadpool(engine.ingest, paths, dry_run=body.dry_run)
    except FileNotFoundError as exc:
        raise InvalidRequest(str(exc)) from exc
    except OSError as exc:  # a read-only or full data dir: say so, never a 500
        raise IndexNotWritable.of(exc) from exc
    return report.__dict__


@router.get("/jobs/{job_id}", responses={404: {}})
def job_status(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """An ingest job: state, files done of total, and each file's outcome (indexed, unchanged,
    skipped or failed, with the reason)."""
    found = jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"unknown job {job_id[:64]!r} (jobs are kept in memory by one server)")
    return found.view()


def _inside_corpus(root: Path, raw: str) -> Path:
    try:  # a NUL byte or an unencodable character is no file name: 422, not a crash deeper down
        if "\x00" in raw:
            raise ValueError("contains a NUL byte")
        os.fsencode(raw)
    except (ValueError, UnicodeError) as exc:
        raise InvalidRequest(f"invalid path {raw[:100]!r}: {exc}") from exc
    path = Path(raw)
    return path if path.is_absolute() else root / path
