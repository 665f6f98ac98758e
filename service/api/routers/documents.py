"""GET /documents, GET/DELETE /documents/{source}, POST /documents (upload, then index in a job)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from verbatim.ingest.uploads import store_uploads
from verbatim.service.api.deps import Admin, EngineDep, JobsDep, SettingsDep
from verbatim.service.api.multipart import read_form
from verbatim.service.qa.schemas import DocumentList, DocumentResponse

router = APIRouter(tags=["documents"])

_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "folder": {"type": "string", "default": "uploads"},
                        "overwrite": {"type": "boolean", "default": False},
                    },
                }
            }
        },
    }
}


@router.get("/documents", response_model=DocumentList)
def documents(engine: EngineDep) -> DocumentList:
    """Every indexed document and its articles."""
    return engine.documents()


@router.get("/documents/{source:path}", response_model=DocumentResponse, responses={404: {}, 422: {}})
def document(
    source: str,
    engine: EngineDep,
    start: int | None = Query(default=None, ge=0),
    end: int | None = Query(default=None, ge=0),
) -> DocumentResponse:
    """A document's raw text and articles; with start/end also that span (to open a citation)."""
    return engine.document(source, start, end)


@router.post(
    "/documents",
    status_code=202,
    dependencies=[Admin],
    openapi_extra=_UPLOAD_FORM,
    responses={202: {}, 401: {}, 403: {}, 409: {}, 413: {}, 415: {}, 422: {}, 503: {}},
)
async def upload(request: Request, settings: SettingsDep, jobs: JobsDep) -> JSONResponse:
    """Store files under the corpus dir (`folder`, default `uploads`) and index them in a job.

    Multipart fields: `files` (repeatable), `folder`, `overwrite=true` to replace an existing file."""
    form = await read_form(request, settings.max_upload_bytes)
    try:
        overwrite = form.fields.get("overwrite", "false").strip().lower() in ("1", "true", "yes", "on")
        stored = await run_in_threadpool(
            store_uploads, settings.corpus_dir, form.fields.get("folder"), form.files, overwrite=overwrite
        )
    finally:
        await form.close()
    sources = [source for _, _, source in stored]
    engine = request.app.state.engine
    engine.uploads.add(sources)
    job = jobs.submit_ingest([path for _, path, _ in stored], sources)
    body: dict[str, Any] = {
        "job": job.id,
        "files": [{"name": item.name, "source": source} for item, _, source in stored],
    }
    return JSONResponse(body, status_code=202, headers={"Location": f"/jobs/{job.id}"})


@router.delete(
    "/documents/{source:path}", dependencies=[Admin], responses={401: {}, 403: {}, 404: {}, 409: {}}
)
async def delete_document(source: str, engine: EngineDep) -> dict[str, Any]:
    """Remove a document from the index, and its file if it was uploaded (other files stay: a later
    ingest of their folder indexes them again)."""
    deleted = await run_in_threadpool(engine.delete_document, source)
    return {"source": source, "removed": True, "file_deleted": deleted}
