"""Verbatim's Slack-style bot: its own process, talking to the API over HTTP.

`create_bot_app(settings)` builds the FastAPI app (`POST /slack/events`, `GET /healthz`,
`GET /metrics`); `run_bot(host, port)` serves it with uvicorn (`verbatim bot`). See docs/bot.md.
"""

from __future__ import annotations

from .app import BotConfigError, VerbatimBot, create_bot_app, run_bot

__all__ = ["BotConfigError", "VerbatimBot", "create_bot_app", "run_bot"]
