"""What a route needs from the one application object (`app.state`), as FastAPI dependencies."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from verbatim.service.api.jobs import Jobs
from verbatim.service.qa.answering import Answering
from verbatim.service.qa.engine import Engine
from verbatim.settings import Settings


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _answering(request: Request) -> Answering:
    answering: Answering = request.app.state.answering
    return answering


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


EngineDep = Annotated[Engine, Depends(_engine)]
AnsweringDep = Annotated[Answering, Depends(_answering)]
SettingsDep = Annotated[Settings, Depends(_settings)]
JobsDep = Annotated[Jobs, Depends(_jobs)]


def _bearer(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_admin(request: Request) -> None:
    """Uploads, deletes and ingests need an admin key when any key is configured (401 without a valid
    key, 403 with an API key that is not an admin key); open when no keys are set at all."""
    settings = _settings(request)
    admins = settings.admin_key_list()
    if not admins:
        return
    token = _bearer(request)
    if token is None:
        raise HTTPException(
            401,
            "missing admin key: send 'Authorization: Bearer <key>' with one of VERBATIM_ADMIN_KEYS",
            headers={"WWW-Authenticate": 'Bearer realm="verbatim"'},
        )
    given = token.encode()
    if any(hmac.compare_digest(given, key.encode()) for key in admins):
        return
    if any(hmac.compare_digest(given, key.encode()) for key in settings.api_key_list()):
        raise HTTPException(
            403, "this API key may ask but not upload, delete or ingest: use one of VERBATIM_ADMIN_KEYS"
        )
    raise HTTPException(
        401,
        "invalid admin key",
        headers={"WWW-Authenticate": 'Bearer realm="verbatim", error="invalid_token"'},
    )


Admin = Depends(require_admin)
