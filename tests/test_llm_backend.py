"""The OpenAI-compatible client against a scripted chat-completions server on loopback; the registry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from tests.conftest import free_port, make_settings
from tests.fake_llm import Call, FakeLLM, Reply
from verbatim.service.qa import backends
from verbatim.service.qa.backends import BackendAnswer, BackendError, BackendRegistry, NumberedPassage
from verbatim.service.qa.backends.openai_compat import OpenAICompatBackend

T = TypeVar("T")
PASSAGES = [
    NumberedPassage(n=1, title="T", source="a.txt", text="The ferry leaves Baku at noon every day."),
    NumberedPassage(n=2, title="U", source="b.txt", text="Tickets cost forty manat."),
]


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def client(llm: FakeLLM, **kw: object) -> OpenAICompatBackend:
    options: dict = {"timeout": 3.0, "backoff": 0.05, **kw}
    return OpenAICompatBackend(llm.url, "test-model", options.pop("api_key", None), **options)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_answer_sends_prompt_model_and_key(llm: FakeLLM) -> None:
    llm.reset(lambda call: Reply(text=f"“{call.passages[1][:20]}” [1]"))
    answer = run(client(llm, api_key="sk-test").answer("When does the ferry leave?", PASSAGES))
    assert answer.text == "“The ferry leaves Bak” [1]"
    [call] = llm.calls
    assert call.body["model"] == "test-model" and call.body["stream"] is False
    assert call.headers["authorization"] == "Bearer sk-test"
    assert call.passages == {1: PASSAGES[0].text, 2: PASSAGES[1].text}
    assert call.question == "When does the ferry leave?"


def test_base_url_without_v1_works(llm: FakeLLM) -> None:
    llm.reset(lambda call: Reply(text="ok"))
    backend = OpenAICompatBackend(llm.url.removesuffix("/v1"), "m", timeout=3)
    assert run(backend.answer("q", PASSAGES)).text == "ok"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried_with_retry_after(llm: FakeLLM, status: int) -> None:
    llm.reset(
        lambda call: (
            Reply(status=status, headers={"Retry-After": "0.3"}) if call.index == 0 else Reply(text="fine")
        )
    )
    started = time.monotonic()
    assert run(client(llm).answer("q", PASSAGES)).text == "fine"
    assert len(llm.calls) == 2
    assert time.monotonic() - started >= 0.3  # Retry-After was honoured


def test_persistent_errors_give_up_after_the_retries(llm: FakeLLM) -> None:
    llm.reset(lambda call: Reply(status=500))
    with pytest.raises(BackendError) as err:
        run(client(llm, max_retries=2).answer("q", PASSAGES))
    assert err.value.reason == "http_error" and len(llm.calls) == 3
    llm.reset(lambda call: Reply(status=400))  # a client error is not retried
    with pytest.raises(BackendError):
        run(client(llm).answer("q", PASSAGES))
    assert len(llm.calls) == 1


def test_retry_after_beyond_the_budget_fails_at_once(llm: FakeLLM) -> None:
    llm.reset(lambda call: Reply(status=429, headers={"Retry-After": "60"}))
    started = time.monotonic()
    with pytest.raises(BackendError) as err:
        run(client(llm).answer("q", PASSAGES))
    assert err.value.reason == "rate_limited" and time.monotonic() - started < 2


def test_timeout_malformed_and_empty(llm: FakeLLM) -> None:
    llm.reset(lambda call: Reply(text="late", delay=3))
    started = time.monotonic()
    with pytest.raises(BackendError) as err:
        run(client(llm, timeout=1.0).answer("q", PASSAGES))
    assert err.value.reason == "timeout" and time.monotonic() - started < 2.5

    llm.reset(lambda call: Reply(raw=b'{"choices": [{"message": {"content": "cut off'))
    with pytest.raises(BackendError) as err:
        run(client(llm).answer("q", PASSAGES))
    assert err.value.reason == "bad_response"

    llm.reset(lambda call: Reply(raw=b'{"object": "error", "message": "model not loaded"}'))
    with pytest.raises(BackendError) as err:
        run(client(llm).answer("q", PASSAGES))
    assert err.value.reason == "bad_response"

    llm.reset(lambda call: Reply(text="  <think>hmm</think>  "))
    with pytest.raises(BackendError) as err:
        run(client(llm).answer("q", PASSAGES))
    assert err.value.reason == "empty"


def test_connection_refused_is_unavailable() -> None:
    backend = OpenAICompatBackend(f"http://127.0.0.1:{free_port()}/v1", "m", timeout=2, backoff=0.05)
    with pytest.raises(BackendError) as err:
        run(backend.answer("q", PASSAGES))
    assert err.value.reason == "unavailable"


def test_streaming_deltas_concatenate_to_the_answer(llm: FakeLLM) -> None:
    text = "“The ferry leaves Baku at noon every day.” [1] “Tickets cost forty manat.” [2]"
    llm.reset(lambda call: Reply(text=text, chunk_size=5))

    async def collect() -> list[str]:
        return [d async for d in client(llm).stream("q", PASSAGES)]

    deltas = run(collect())
    assert len(deltas) > 5 and "".join(deltas) == text
    assert llm.calls[0].body["stream"] is True

    llm.reset(lambda call: Reply(raw=b"data: {not json}\n\n"))
    with pytest.raises(BackendError) as err:
        run(collect())
    assert err.value.reason == "bad_response"


def test_concurrent_calls_are_bounded(llm: FakeLLM) -> None:
    llm.reset(lambda call: Reply(text="ok", delay=0.3))
    backend = client(llm, max_concurrency=2)

    async def burst() -> list[BackendAnswer]:
        return await asyncio.gather(*(backend.answer("q", PASSAGES) for _ in range(6)))

    assert [a.text for a in run(burst())] == ["ok"] * 6
    assert llm.max_inflight == 2


class EchoBackend:
    """A plugin as a third party would write it."""

    name = "echo"

    def __init__(self, settings: object) -> None:
        self.settings = settings

    async def answer(self, question: str, passages: list[NumberedPassage]) -> BackendAnswer:
        return BackendAnswer(text=f"“{passages[0].text}” [1]", quotes=[(1, passages[0].text)])


def test_plugins_load_from_entry_points(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ep = SimpleNamespace(name="echo", load=lambda: EchoBackend)
    broken = SimpleNamespace(name="broken", load=lambda: (_ for _ in ()).throw(ImportError("missing dep")))
    monkeypatch.setattr(
        backends, "entry_points", lambda group: [ep, broken] if group == backends.ENTRY_POINT_GROUP else []
    )
    settings = make_settings(tmp_path)
    registry = BackendRegistry(settings)
    assert "echo" in registry.names() and "openai" in registry.names() and "broken" not in registry.names()
    assert not registry.llm_configured()  # no VERBATIM_LLM_URL, default backend openai
    registry = BackendRegistry(make_settings(tmp_path, llm_backend="echo"))
    assert registry.llm_configured()
    backend = registry.get("echo")
    assert run(backend.answer("q", PASSAGES)).text == f"“{PASSAGES[0].text}” [1]"
    with pytest.raises(BackendError):
        registry.get("nope")
    registry.register("fake", lambda s: Call)  # not a backend: refused clearly
    with pytest.raises(BackendError, match="lacks"):
        registry.get("fake")
