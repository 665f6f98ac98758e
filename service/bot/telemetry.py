"""Prometheus series for the bot, on a registry of its own.

The bot is its own process, but tests and embedded setups may run it next to the API in one
interpreter; a private `CollectorRegistry` keeps the two sets of series from clashing.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class BotMetrics:
    """Counters for what Slack sent, what the bot answered and what users thought of it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "verbatim_bot_requests",
            "Signed Slack requests accepted, by kind (app_mention, message_im, slash_command, ...).",
            ["kind"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "verbatim_bot_rejected_requests",
            "Slack requests rejected before processing (bad signature, malformed body).",
            ["reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "verbatim_bot_duplicate_events",
            "Events dropped because Slack retried them or delivered the same message twice.",
            registry=self.registry,
        )
        self.ignored = Counter(
            "verbatim_bot_ignored_events",
            "Events deliberately not answered (own or other bots' messages, edits, channel chatter).",
            ["reason"],
            registry=self.registry,
        )
        self.answers = Counter(
            "verbatim_bot_answers",
            "Questions handled, by surface and outcome (answered, abstained, api_error, slack_error).",
            ["surface", "outcome"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "verbatim_bot_feedback",
            "Helpful / not-helpful button clicks.",
            ["rating"],
            registry=self.registry,
        )
        self.api_seconds = Histogram(
            "verbatim_bot_api_request_seconds",
            "Latency of POST /ask calls to the Verbatim API, as the bot saw it.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
            registry=self.registry,
        )
