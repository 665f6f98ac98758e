"""The one place where the core's domain errors become HTTP status codes (and `{"detail": ...}`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from verbatim.service.qa import errors

RETRY = {"Retry-After": "2"}

# Most specific first: the first class an error is an instance of decides its status.
STATUS: list[tuple[type[Exception], int]] = [
    (errors.UnknownSource, 404),
    (errors.SourceUnreadable, 410),
    (errors.InvalidRequest, 422),
    (errors.PathOutsideRoot, 422),
    (errors.BadUploadName, 422),
    (errors.AlreadyExists, 409),
    (errors.IngestBusy, 409),
    (errors.FileTooLarge, 413),
    (errors.UnsupportedFormat, 415),
    (errors.NotReady, 503),
    (errors.IndexUnavailable, 503),
    (errors.IndexNotWritable, 503),
    (errors.CorpusNotWritable, 503),
]
HANDLED: tuple[type[Exception], ...] = tuple(cls for cls, _ in STATUS)


def status_of(exc: Exception) -> int:
    """The status code of a domain error (500 only for what is not one: a bug)."""
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 500)


def error_response(exc: Exception) -> JSONResponse:
    status = status_of(exc)
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=RETRY if status == 503 else None)


def validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """400 for a body that is no JSON, else 422 naming the fields and what is wrong with them."""
    problems = exc.errors()
    if any(e.get("type") == "json_invalid" for e in problems):
        return 400, "malformed JSON body: " + "; ".join(str(e.get("msg")) for e in problems)
    parts = []
    for e in problems[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return 422, "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        status, message = validation_message(exc)
        return JSONResponse({"detail": message}, status_code=status)

    app.add_exception_handler(RequestValidationError, on_validation)
    for cls in HANDLED:
        app.add_exception_handler(cls, on_domain_error)
