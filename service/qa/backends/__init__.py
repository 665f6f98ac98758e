"""Answer backends: the built-in `extractive` and `openai` (any OpenAI-compatible server), plus plugins.

Writing a plugin (no change to Verbatim needed) — a class or factory taking the `Settings` and returning
an object with a `name` and `async answer(question, passages) -> BackendAnswer` (optionally an async
generator `stream(question, passages)` yielding text deltas), registered under the entry-point group
`verbatim.backends` in the plugin's own pyproject.toml:

    [project.entry-points."verbatim.backends"]
    echo = "verbatim_echo:EchoBackend"

    # verbatim_echo.py
    from verbatim.service.qa.backends import BackendAnswer
    class EchoBackend:
        name = "echo"
        def __init__(self, settings): ...
        async def answer(self, question, passages):
            return BackendAnswer(text=f"“{passages[0].text[:80]}” [1]")

Select it with VERBATIM_LLM_BACKEND=echo; `/ask` with backend "llm" then uses it. Its quotes are verified
exactly like a model's (service.verify), so a plugin cannot put words in the documents' mouth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from verbatim.service.qa.backends.base import (
    AnswerBackend,
    BackendAnswer,
    BackendError,
    NumberedPassage,
    StreamingBackend,
    stream_of,
)
from verbatim.settings import Settings

if TYPE_CHECKING:
    from verbatim.service.qa.engine import Engine

__all__ = [
    "ENTRY_POINT_GROUP",
    "AnswerBackend",
    "BackendAnswer",
    "BackendError",
    "BackendRegistry",
    "NumberedPassage",
    "StreamingBackend",
    "llm_backend_name",
    "stream_of",
]

log = logging.getLogger("verbatim.backends")

ENTRY_POINT_GROUP = "verbatim.backends"
BackendFactory = Callable[[Settings], Any]


def llm_backend_name(settings: Settings) -> str:
    """Which backend `"backend": "llm"` means (VERBATIM_LLM_BACKEND, default `openai`)."""
    return settings.llm_backend or "openai"


def discover() -> dict[str, BackendFactory]:
    """Third-party backends registered under the `verbatim.backends` entry-point group."""
    found: dict[str, BackendFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a broken plugin must not take the service down
            log.warning("backend plugin %r failed to load: %s", ep.name, exc)
    return found


class BackendRegistry:
    """Backends by name, built on first use; built-ins win over plugins of the same name."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        from verbatim.service.qa.backends.openai_compat import OpenAICompatBackend

        self.settings = settings
        factories: dict[str, BackendFactory] = discover()
        factories["openai"] = OpenAICompatBackend.from_settings
        if engine is not None:
            from verbatim.service.qa.backends.extractive import ExtractiveBackend

            factories["extractive"] = lambda _settings: ExtractiveBackend(engine)
        self._factories = factories
        self._instances: dict[str, AnswerBackend] = {}

    def names(self) -> list[str]:
        return sorted(self._factories)

    def register(self, name: str, factory: BackendFactory) -> None:
        """Add (or replace) a backend in-process, e.g. a test double."""
        self._factories[name] = factory
        self._instances.pop(name, None)

    def get(self, name: str) -> AnswerBackend:
        if name not in self._instances:
            factory = self._factories.get(name)
            if factory is None:
                have = ", ".join(self.names())
                raise BackendError("unconfigured", f"no backend named {name!r} (have: {have})")
            backend = factory(self.settings)
            if not isinstance(backend, AnswerBackend):
                raise BackendError("unconfigured", f"backend {name!r} lacks `name` and `async answer()`")
            self._instances[name] = backend
        return self._instances[name]

    def llm_configured(self) -> bool:
        """A model backend is usable: a plugin was chosen, or the OpenAI-compatible URL is set."""
        name = llm_backend_name(self.settings)
        return name in self._factories and (name != "openai" or bool(self.settings.llm_url))

    async def aclose(self) -> None:
        for backend in self._instances.values():
            close = getattr(backend, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception as exc:
                    log.debug("closing backend %s: %s", backend.name, exc)
