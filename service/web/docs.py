"""Swagger UI at `/docs` and ReDoc at `/redoc` from local files, so the API docs work offline.

The JavaScript and CSS come from the `fastapi-offline` package (MIT), which ships swagger-ui-dist
(Apache-2.0) and ReDoc's standalone bundle (MIT); they are served under `/ui/vendor/` (open without
an API key, like the page). The app is created with `docs_url=None, redoc_url=None` and includes this
router instead of FastAPI's CDN-backed pages.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

__all__ = ["VENDOR_DIR", "VENDOR_FILES", "docs_router"]

VENDOR_DIR = Path(str(resources.files("fastapi_offline"))) / "static"
VENDOR_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# Swagger UI would otherwise send the schema to an online validator and show its badge.
_SWAGGER_PARAMETERS = {"validatorUrl": None}
# Both pages carry FastAPI's inline start-up script; nothing may load from elsewhere (ReDoc's footer
# logo would come from a CDN: the browser is told not to fetch it). ReDoc searches in a blob: worker.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page


docs_router = APIRouter(include_in_schema=False)


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(request: Request) -> str:
    return _prefix(request) + (request.app.openapi_url or "/openapi.json")


@docs_router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for this API, loaded from /ui/vendor/ (no CDN)."""
    vendor = f"{_prefix(request)}/ui/vendor"
    return _offline(
        get_swagger_ui_html(
            openapi_url=_openapi_url(request),
            title=f"{request.app.title} — Swagger UI",
            oauth2_redirect_url=f"{_prefix(request)}/docs/oauth2-redirect",
            swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui.css",
            swagger_favicon_url=f"{vendor}/favicon.png",
            swagger_ui_parameters=_SWAGGER_PARAMETERS,
        )
    )


@docs_router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return get_swagger_ui_oauth2_redirect_html()


@docs_router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc for this API, loaded from /ui/vendor/ (no CDN, no web fonts)."""
    vendor = f"{_prefix(request)}/ui/vendor"
    return _offline(
        get_redoc_html(
            openapi_url=_openapi_url(request),
            title=f"{request.app.title} — ReDoc",
            redoc_js_url=f"{vendor}/redoc.standalone.js",
            redoc_favicon_url=f"{vendor}/favicon.png",
            with_google_fonts=False,
        )
    )


@docs_router.get("/ui/vendor/{name}")
def vendor_asset(name: str) -> FileResponse:
    """One of the four vendored files, by exact name."""
    media_type = VENDOR_FILES.get(name)
    if media_type is None or not (VENDOR_DIR / name).is_file():
        raise HTTPException(status_code=404, detail=f"no such asset: {name}")
    return FileResponse(VENDOR_DIR / name, media_type=media_type, headers={"Cache-Control": "max-age=86400"})
