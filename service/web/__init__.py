"""The web page: `GET /` serves one HTML file, `GET /ui/...` its plain JS and CSS (no build step, no CDN).

Also here: offline Swagger UI and ReDoc (`docs_router`) and the redirect that sends a browser following
a `/documents/{source}` link to the page (`PageLinks`, `page_link`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from verbatim.service.web.docs import docs_router
from verbatim.service.web.links import PageLinks, page_link

__all__ = ["STATIC_DIR", "PageLinks", "docs_router", "page_link", "router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

# The page only talks to its own origin; no inline scripts or styles, nothing from elsewhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def web_index() -> FileResponse:
    """The question page (ask, read the quotes in context, browse the documents)."""
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type=_TYPES[".html"],
        headers={**_HEADERS, "Content-Security-Policy": CSP},
    )


@router.get("/ui/{name}")
def web_asset(name: str) -> FileResponse:
    """One static asset of the page, by file name (no sub-folders, nothing outside `static/`)."""
    path = STATIC_DIR / name
    media_type = _TYPES.get(path.suffix)
    if media_type is None or name.startswith(".") or "/" in name or "\\" in name or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no such asset: {name}")
    return FileResponse(path, media_type=media_type, headers=_HEADERS)
