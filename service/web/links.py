"""Links that open the web page at a span: `/#/doc/{source}?start=&end=`.

A person following a citation link (from chat, or an old `GET /documents/{source}?start=&end=` link)
should land on the page with the span highlighted, not on JSON — and, when API keys are on, on the
page asking for the key rather than on a 401 body. The fragment never reaches the server, so the
page (open without a key) loads, then fetches the document with the key it holds.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from starlette.datastructures import Headers
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PageLinks", "page_link", "prefers_html"]

DOCUMENTS_PREFIX = "/documents/"


def page_link(base_url: str, source: str, start: int | None = None, end: int | None = None) -> str:
    """The page's URL for `source`, with the span [start, end) highlighted when both are given."""
    query = f"?start={int(start)}&end={int(end)}" if start is not None and end is not None else ""
    return f"{base_url.rstrip('/')}/#/doc/{quote(source, safe='/')}{query}"


def _media_ranges(accept: str) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind:
            ranges[kind.lower()] = max(q, ranges.get(kind.lower(), 0.0))
    return ranges


def prefers_html(accept: str) -> bool:
    """True for a browser navigating (text/html asked for, above JSON); API clients send JSON or */*."""
    ranges = _media_ranges(accept)
    html = ranges.get("text/html", 0.0)
    return html > 0 and html > ranges.get("application/json", 0.0)


class PageLinks:
    """303 from `GET /documents/{source}` to the page route when a browser asks for HTML.

    Installed outside the auth middleware, so a browser with no key is still sent to the page (which
    then asks for the key); the redirect itself reveals nothing but the URL the browser already had.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and scope["path"].startswith(DOCUMENTS_PREFIX)
            and len(scope["path"]) > len(DOCUMENTS_PREFIX)
            and prefers_html(Headers(scope=scope).get("accept", ""))
        ):
            source = scope["path"][len(DOCUMENTS_PREFIX) :]
            params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            start, end = params.get("start", [""])[0], params.get("end", [""])[0]
            span = start.isdigit() and end.isdigit() and int(start) <= int(end)
            root = str(scope.get("root_path", ""))
            url = page_link(root or "", source, int(start) if span else None, int(end) if span else None)
            await RedirectResponse(url or "/", status_code=303)(scope, receive, send)
            return
        await self.app(scope, receive, send)
