"""Bearer-token auth, rate limits, body size limits and CORS, in front of the real app."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from verbatim.service.api import security
from verbatim.service.api.app import create_app
from verbatim.service.api.security import BodyLimit, Rate, TokenBucket

KEYS = "alpha-key-0123456789,beta-key-9876543210"
GOOD = {"Authorization": "Bearer alpha-key-0123456789"}
PROTECTED = [
    ("GET", "/documents"),
    ("GET", "/documents/000_471aab2a35820a5e.txt"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/ask"),
    ("POST", "/search"),
    ("POST", "/admin/ingest"),
]


def client_for(tmp_path: Path, address: str = "10.0.0.1", **overrides: object) -> TestClient:
    """The real app, not started (data routes answer 503): enough to see what the security layer does."""
    app = create_app(make_settings(tmp_path / "data", **overrides), start=False)
    return TestClient(app, client=(address, 40000))


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path, api_keys=KEYS) as client:
        yield client


# -- auth -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_endpoint_needs_a_key_when_keys_are_set(locked: TestClient, method: str, path: str) -> None:
    missing = locked.request(method, path, json={"question": "q"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "missing API key" in missing.json()["detail"]
    wrong = locked.request(method, path, json={"question": "q"}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "invalid API key"}
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    for header in (GOOD, {"Authorization": "bearer beta-key-9876543210"}):
        assert locked.request(method, path, json={"question": "q"}, headers=header).status_code != 401


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs"])
def test_liveness_and_docs_stay_open(locked: TestClient, path: str) -> None:
    assert locked.get(path).status_code == 200


def test_other_schemes_and_key_prefixes_are_refused(locked: TestClient) -> None:
    for value in (
        "Basic YWxwaGE6a2V5",
        "Bearer",
        "Bearer alpha-key-012345678",
        "alpha-key-0123456789",
        "Bearer alpha-key-0123456789x",
        "Token alpha-key-0123456789",
    ):
        assert locked.get("/documents", headers={"Authorization": value}).status_code == 401, value


def test_keys_are_compared_in_constant_time_against_every_key(
    locked: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    assert locked.get("/documents", headers=GOOD).status_code != 401  # the first key matches...
    assert len(calls) == 2  # ...and the second is still compared: timing does not say which key matched


def test_without_keys_the_api_is_open(tmp_path: Path) -> None:
    with client_for(tmp_path) as client:
        assert client.get("/documents").status_code == 503  # not started, but not refused


def test_openapi_documents_bearer_auth_and_limits(tmp_path: Path) -> None:
    with client_for(tmp_path, api_keys=KEYS, rate_limit="5/minute") as client:
        schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    ask = schema["paths"]["/ask"]["post"]
    assert ask["security"] == [{"bearer": []}] and {"401", "413", "429"} <= set(ask["responses"])
    assert "security" not in schema["paths"]["/healthz"]["get"]
    assert "429" not in schema["paths"]["/readyz"]["get"]["responses"]


# -- rate limits ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "requests", "seconds"),
    [
        ("100/minute", 100, 60),
        ("5/second", 5, 1),
        ("1000/hour", 1000, 3600),
        ("10 per day", 10, 86400),
        ("3/5minutes", 3, 300),
        ("7/s", 7, 1),
        ("20/Minutes", 20, 60),
    ],
)
def test_rate_parsing(text: str, requests: int, seconds: float) -> None:
    rate = Rate.parse(text)
    assert (rate.requests, rate.seconds) == (requests, seconds)


@pytest.mark.parametrize("text", ["", "100", "0/minute", "ten/minute", "5/fortnight", "-1/s"])
def test_bad_rate_limit_refuses_to_start_with_a_clear_message(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match="VERBATIM_RATE_LIMIT must look like"):
        Rate.parse(text)
    if text:
        with pytest.raises(ValueError, match="VERBATIM_RATE_LIMIT"):
            create_app(make_settings(tmp_path / "data", rate_limit=text), start=False)


def test_token_bucket_allows_a_burst_then_the_average_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(Rate.parse("6/minute"), clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(6)] == [0.0] * 6
    assert bucket.take("a") == pytest.approx(10.0)  # one token every 10 s
    assert bucket.take("b") == 0.0  # clients have their own buckets
    now[0] = 10.0
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0


def test_token_bucket_memory_is_bounded() -> None:
    bucket = TokenBucket(Rate.parse("1/hour"), max_clients=100)
    for i in range(1000):
        bucket.take(f"client-{i}")
    assert len(bucket._buckets) == 100


def test_rate_limit_per_key_gives_429_with_retry_after(tmp_path: Path) -> None:
    with client_for(tmp_path, api_keys=KEYS, rate_limit="3/minute") as client:
        codes = [client.get("/documents", headers=GOOD).status_code for _ in range(3)]
        assert 429 not in codes
        over = client.get("/documents", headers=GOOD)
        assert over.status_code == 429
        assert int(over.headers["retry-after"]) >= 1 and "rate limit" in over.json()["detail"]
        # the other key has its own allowance; probes are never limited
        beta = {"Authorization": "Bearer beta-key-9876543210"}
        assert client.get("/documents", headers=beta).status_code != 429
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz", headers=GOOD).status_code != 429


def test_rate_limit_per_client_address_when_keys_are_off(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data", rate_limit="2/minute"), start=False)
    with TestClient(app, client=("10.0.0.1", 1)) as first, TestClient(app, client=("10.0.0.2", 1)) as second:
        assert [first.get("/documents").status_code for _ in range(3)][-1] == 429
        assert second.get("/documents").status_code != 429


# -- body size --------------------------------------------------------------------------------------
def test_oversized_bodies_get_413_declared_or_streamed(tmp_path: Path) -> None:
    with client_for(tmp_path, max_body_bytes=2048) as client:
        big = {"question": "x" * 4000}
        declared = client.post("/ask", json=big)
        assert declared.status_code == 413 and "2048" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            yield b'{"question": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = client.post("/ask", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        small = client.post("/ask", json={"question": "who?"})
        assert small.status_code == 503  # reached the app (not started yet)


def test_body_limit_replays_the_body_intact() -> None:
    echo = FastAPI()

    @echo.post("/echo")
    async def _echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    echo.add_middleware(BodyLimit, limit=1000)
    with TestClient(echo) as client:
        parts = [b"a" * 300, b"b" * 300, b"c" * 300]
        assert client.post("/echo", content=iter(parts)).json() == {"size": 900}
        assert client.post("/echo", content=b"z" * 1000).json() == {"size": 1000}
        assert client.post("/echo", content=b"z" * 1001).status_code == 413
        assert client.post("/echo", content=b"", headers={"content-length": "abc"}).status_code == 400


# -- CORS -------------------------------------------------------------------------------------------
def test_cors_is_off_by_default(tmp_path: Path) -> None:
    with client_for(tmp_path) as client:
        r = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        pre = client.options(
            "/ask", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in pre.headers


def test_cors_allows_only_configured_origins_and_preflight_needs_no_key(tmp_path: Path) -> None:
    origins = "https://docs.example, https://app.example/"
    with client_for(tmp_path, api_keys=KEYS, cors_origins=origins) as client:
        ok = client.get("/healthz", headers={"Origin": "https://app.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in ok.headers["access-control-expose-headers"].lower()
        preflight = client.options(
            "/ask",
            headers={
                "Origin": "https://docs.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        # CORS does not replace auth: a cross-origin call still needs the key
        assert client.get("/documents", headers={"Origin": "https://app.example"}).status_code == 401
