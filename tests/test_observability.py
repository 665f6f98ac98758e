"""Request ids, structured JSON logs without secrets, and metrics labelled by route template."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from verbatim.service.api.app import create_app
from verbatim.service.api.observability import Redactor, secret_values
from verbatim.service.qa.engine import Engine

API_KEY = "vb-live-4f9a0c2e7d1b8a6f"
LLM_KEY = "sk-proj-T0pS3cretModelKey123456"
SIGNING = "slack-signing-9b8c7d6e5f4a"
BOT_TOKEN = "xoxb-1234-5678-abcdefSecret"
SECRETS = (API_KEY, LLM_KEY, SIGNING, BOT_TOKEN)
probe_log = logging.getLogger("verbatim.test.probe")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every log line our handler wrote (each one must be a JSON object)."""
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


def with_probes(app: FastAPI) -> FastAPI:
    """Routes that log from inside a request, log secrets by mistake, and crash."""

    @app.get("/_probe/log")
    def _log() -> dict[str, str]:
        probe_log.info("inside the handler")
        return {"ok": "yes"}

    @app.get("/_probe/leak")
    def _leak() -> dict[str, str]:
        probe_log.info("calling the model with key %s", LLM_KEY)
        probe_log.warning("slack said no: signing secret %s token %s", SIGNING, BOT_TOKEN)
        probe_log.info("forwarding headers {'authorization': 'Bearer %s'}", API_KEY)
        probe_log.info('config {"api_keys": "%s"}', API_KEY)
        try:
            raise RuntimeError(f"upstream refused key {LLM_KEY}")
        except RuntimeError:
            probe_log.exception("model call failed")
        return {"ok": "yes"}

    @app.get("/_probe/crash")
    def _crash() -> dict[str, str]:
        raise RuntimeError("boom")

    return app


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = make_settings(
        tmp_path / "data",
        api_keys=f"{API_KEY},second-key-abcdef",
        llm_api_key=LLM_KEY,
        slack_signing_secret=SIGNING,
        slack_bot_token=BOT_TOKEN,
    )
    return with_probes(create_app(settings, start=False))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {API_KEY}"}) as c:
        yield c


def test_request_id_is_returned_accepted_and_sanitised(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    sane = client.get("/healthz", headers={"X-Request-ID": "req-42.a:b"})
    assert sane.headers["x-request-id"] == "req-42.a:b"
    for hostile in (b"a b", b"x" * 300, b"<script>", "id\u00e9".encode("latin-1"), b'{}"\\'):
        echoed = client.get("/healthz", headers={"X-Request-ID": hostile})  # type: ignore[dict-item]
        assert len(echoed.headers["x-request-id"]) == 32 and echoed.headers["x-request-id"].isalnum()
    refused = client.get("/documents", headers={"Authorization": "Bearer wrong", "X-Request-ID": "refused-1"})
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "refused-1"


def test_logs_are_json_lines_with_the_request_id(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert client.get("/_probe/log", headers={"X-Request-ID": "trace-me-1"}).status_code == 200
    lines = json_lines(capsys.readouterr().err)
    inside = [e for e in lines if e["message"] == "inside the handler"]
    assert inside and inside[0]["request_id"] == "trace-me-1" and inside[0]["logger"] == "verbatim.test.probe"
    access = [e for e in lines if e["logger"] == "verbatim.access" and e.get("request_id") == "trace-me-1"]
    assert len(access) == 1
    entry = access[0]
    assert entry["route"] == "/_probe/log" and entry["status"] == 200 and entry["method"] == "GET"
    assert entry["duration_ms"] >= 0 and entry["client"] == "key#1" and entry["level"] == "info"
    assert entry["ts"].endswith("+00:00")


def test_no_secret_ever_reaches_the_logs(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert client.get("/_probe/leak").status_code == 200
    client.get("/documents", headers={"Authorization": f"Bearer {API_KEY}x"})  # a near-miss key
    client.post("/ask", json={"question": f"is {API_KEY} my key?"})
    logging.getLogger("uvicorn.error").error("server said %s", f"Bearer {LLM_KEY}")
    err = capsys.readouterr().err
    lines = json_lines(err)
    assert any("model call failed" in e["message"] and "exception" in e for e in lines)
    assert any("[redacted]" in e["message"] for e in lines)
    for secret in SECRETS:
        assert secret not in err
    assert f"{API_KEY}x" not in err


def test_redactor_covers_escaped_forms_and_secret_looking_tokens() -> None:
    redact = Redactor(['ab"c\\d-long-secret'])
    assert "long-secret" not in redact(json.dumps({"m": 'ab"c\\d-long-secret'}))
    assert "abc.def" not in redact("Authorization: Bearer abc.def")
    assert "xoxp-1-2-3" not in redact("token xoxp-1-2-3 here")
    assert "hunter2" not in redact("password=hunter2&user=x")
    assert "sk-abcdefghijklmnop" not in redact("key sk-abcdefghijklmnop")


def test_secret_values_lists_every_configured_secret(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, api_keys=f"{API_KEY}, k2-abcdef", llm_api_key=LLM_KEY, slack_bot_token=BOT_TOKEN
    )
    assert {API_KEY, "k2-abcdef", LLM_KEY, BOT_TOKEN} <= set(secret_values(settings))


def test_text_log_format_is_redacted_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = with_probes(
        create_app(make_settings(tmp_path / "data", log_format="text", llm_api_key=LLM_KEY), start=False)
    )
    try:
        with TestClient(app) as client:
            capsys.readouterr()
            client.get("/_probe/leak", headers={"X-Request-ID": "text-1"})
            err = capsys.readouterr().err
        assert "request_id=text-1" in err and LLM_KEY not in err and not err.lstrip().startswith("{")
    finally:  # back to JSON for the rest of the session
        create_app(make_settings(tmp_path / "data2"), start=False)


def test_unhandled_errors_are_500_json_logged_and_counted(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    r = client.get("/_probe/crash", headers={"X-Request-ID": "crash-1"})
    assert r.status_code == 500 and "crash-1" in r.json()["detail"] and r.headers["x-request-id"] == "crash-1"
    lines = json_lines(capsys.readouterr().err)
    assert any(
        e.get("request_id") == "crash-1" and "RuntimeError: boom" in e.get("exception", "") for e in lines
    )
    metrics = client.get("/metrics").text
    assert 'route="/_probe/crash",status="500"' in metrics


def test_metric_labels_are_route_templates_never_raw_paths(seeded_engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", api_keys="metrics-key-123456")
    app = create_app(settings, engine=seeded_engine, start=False)
    key = {"Authorization": "Bearer metrics-key-123456"}
    with TestClient(app) as client:
        raw = ["000_471aab2a35820a5e.txt", "nope-zz91.txt", "a/b/c-zz92.txt", "..%2fzz93.txt"]
        for source in raw:
            client.get(f"/documents/{source}", headers=key)
        client.get("/documents/unauth-zz94.txt")  # refused before routing: still its template
        client.get("/no/such/route-zz95", headers=key)
        client.post("/ask", json={"question": "How many tons of wheat arrived in Armenia?"}, headers=key)
        client.post("/ask", json={"question": "What is the airspeed of an unladen swallow?"}, headers=key)
        text = client.get("/metrics", headers=key).text
    for marker in ("zz91", "zz92", "zz93", "zz94", "zz95", "471aab2a"):
        assert marker not in text
    assert 'route="/documents/{source}",status="200"' in text
    assert 'route="/documents/{source}",status="404"' in text
    assert 'route="/documents/{source}",status="401"' in text
    assert 'route="unmatched",status="404"' in text
    for series in (
        'verbatim_stage_seconds_count{stage="retrieve"}',
        'verbatim_stage_seconds_count{stage="answer"}',
        "verbatim_abstentions_total",
        "verbatim_backend_fallbacks_total",
        "verbatim_dropped_quotes_total",
        "verbatim_index_chunks",
        "verbatim_index_version",
        "verbatim_index_documents",
        'verbatim_http_request_seconds_bucket{le="0.1",method="POST",route="/ask"}',
    ):
        assert series in text, series
    documents = next(line for line in text.splitlines() if line.startswith("verbatim_index_documents "))
    assert float(documents.split()[1]) == len(seeded_engine.snapshot().documents)
