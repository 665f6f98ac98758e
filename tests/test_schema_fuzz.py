"""schemathesis against the app's own OpenAPI schema: no 500s, every response matches the schema."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth

from tests.conftest import make_settings
from verbatim.service.api.app import create_app
from verbatim.service.qa.engine import Engine

KEY = "fuzz-key-2b7c9e41"
AUTH = {"Authorization": f"Bearer {KEY}"}
EXAMPLES = 50  # per operation and mode: bounded (the whole run takes seconds in-process)
# Schema-valid requests may still be refused for what they mean (an unknown source, a path that does not
# exist, a blank question, an ingest already running, a file of a format without a reader): 404/409/
# 410/415/422 with a detail that says so.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "409", "410", "415", "422"]

# Invalid data may also be too large to read at all (413 over VERBATIM_MAX_BODY_BYTES).
[checks.negative_data_rejection]
expected-statuses = [
  "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"
]
"""
# Operations that change the shared seeded index or write into the corpus: tested on private copies in
# tests/test_uploads.py, never fuzzed against the session's engine.
DESTRUCTIVE = {"POST /documents", "DELETE /documents/{source}"}

pytestmark = pytest.mark.slow


def no_type_errors_for_valid_data(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """A 422 for schema-valid data must be about meaning, never about types or shapes the schema allows."""
    if response.status_code == 422 and case.meta and case.meta.generation.mode == GenerationMode.POSITIVE:
        detail = str(response.json().get("detail", ""))
        assert not any(t in detail for t in ("Input should be", "Field required", "Extra inputs")), detail
    return None


def test_every_operation_conforms_to_the_schema_and_never_500s(
    seeded_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    app = create_app(
        make_settings(tmp_path_factory.mktemp("fuzz") / "data", api_keys=KEY),
        engine=seeded_engine,
        start=False,
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_str(CONFIG))
    failures: dict[str, str] = {}
    timings: dict[str, float] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert labels >= DESTRUCTIVE
    operations = [op for op in operations if f"{op.method.upper()} {op.path}" not in DESTRUCTIVE]
    wanted = {"POST /ask", "POST /search", "GET /documents/{source}", "GET /readyz", "POST /admin/ingest"}
    assert wanted <= labels
    calls = 0
    for operation, mode in ((op, m) for op in operations for m in GenerationMode):
        label = f"{operation.method.upper()} {operation.path} ({mode.value})"

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            # Always a valid key, so the handlers are reached (auth itself is tested in test_security.py).
            case.headers = {**(case.headers or {}), **AUTH}
            case.call_and_validate(
                additional_checks=[no_type_errors_for_valid_data], excluded_checks=[ignored_auth]
            )

        started = time.monotonic()
        try:
            run()
        except Unsatisfiable:  # nothing to generate (e.g. no parameter to make invalid)
            pass
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures, report them all
            failures[label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
        timings[label] = round(time.monotonic() - started, 1)
    print(f"schemathesis: {len(operations)} operations, {calls} requests, seconds: {timings}")
    assert calls >= len(operations) * 10
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
