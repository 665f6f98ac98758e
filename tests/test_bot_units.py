"""Unit tests for the bot's pure parts: Block Kit rendering within Slack's limits, question clean-up,
feedback button values, dedupe memory and configuration checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from verbatim.service.bot import BotConfigError, create_bot_app
from verbatim.service.bot.blocks import (
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    MAX_BLOCKS,
    MAX_BUTTON_VALUE,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    answer_message,
    citation_url,
    clean_question,
    feedback_value,
    parse_feedback_value,
    split_text,
)
from verbatim.service.bot.dedupe import RecentKeys
from verbatim.settings import Settings

BASE = "https://verbatim.example.org"


def _citation(n: int, quote: str = "a quote", source: str = "001_x.txt") -> dict[str, Any]:
    return {
        "n": n,
        "source": source,
        "title": f"Title {n}",
        "quote": quote,
        "start": 10 * n,
        "end": 10 * n + len(quote),
        "chunk_id": f"c{n}",
        "score": 0.5,
    }


def _response(answer: str, citations: list[dict[str, Any]], abstained: bool = False) -> dict[str, Any]:
    return {
        "answer": answer,
        "abstained": abstained,
        "backend": "extractive",
        "citations": citations,
        "passages": [
            {
                "chunk_id": "p1",
                "source": "002_y.txt",
                "title": "Near miss",
                "start": 5,
                "end": 25,
                "text": "closest passage text",
                "score": 0.2,
            },
        ],
        "timings_ms": {"retrieve": 1.0, "answer": 1.0, "total": 2.0},
    }


def _all_texts(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(block type, text) for every text a block carries, to check per-type limits."""
    out: list[tuple[str, str]] = []
    for b in blocks:
        if b["type"] in ("section", "header"):
            out.append((b["type"], b["text"]["text"]))
        elif b["type"] == "context":
            out.extend(("context", e["text"]) for e in b["elements"])
        elif b["type"] == "rich_text":
            for el in b["elements"]:
                out.extend((el["type"], e.get("text", "")) for e in el["elements"])
    return out


def _check_limits(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= MAX_BLOCKS
    for kind, text in _all_texts(blocks):
        limit = MAX_HEADER_TEXT if kind == "header" else MAX_SECTION_TEXT
        assert len(text) <= limit, (kind, len(text))
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)), "block_ids must be unique within a message"
    for b in blocks:
        if b["type"] == "actions":
            for el in b["elements"]:
                assert len(el["value"]) <= MAX_BUTTON_VALUE
                assert len(el["action_id"]) <= 255


def test_answer_renders_quotes_links_and_buttons() -> None:
    data = _response("“All restrictions … lifted.” [1]", [_citation(1, "All restrictions have been lifted.")])
    text, blocks = answer_message(
        "Who lifted the ban?", data, answer_id="abc", surface="mention", base_url=BASE
    )
    _check_limits(blocks)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Who lifted the ban?", "emoji": False},
    }
    assert blocks[1]["text"]["text"] == "“All restrictions … lifted.” [1]"
    quote_block = next(b for b in blocks if b["type"] == "rich_text")
    label, quote = quote_block["elements"]
    assert quote["type"] == "rich_text_quote"
    assert quote["elements"][0]["text"] == "All restrictions have been lifted."
    link = next(e for e in label["elements"] if e["type"] == "link")
    assert link["text"] == "Title 1"
    assert link["url"] == f"{BASE}/#/doc/001_x.txt?start=10&end=44"
    actions = blocks[-1]
    assert actions["type"] == "actions"
    assert [e["action_id"] for e in actions["elements"]] == [FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL]
    assert parse_feedback_value(actions["elements"][0]["value"]) == {
        "id": "abc",
        "s": "mention",
        "q": "Who lifted the ban?",
    }
    # Fallback text carries the answer and the citation link for notifications.
    assert "All restrictions" in text
    assert f"<{BASE}/#/doc/001_x.txt?start=10&end=44|Title 1>" in text


def test_long_answer_and_many_citations_respect_limits() -> None:
    answer = ("word " * 4000).strip()  # ~20k characters
    citations = [_citation(i, "q" * 5000) for i in range(1, 80)]
    question = "why " * 100
    text, blocks = answer_message(
        question, _response(answer, citations), answer_id="x", surface="dm", base_url=BASE
    )
    _check_limits(blocks)
    assert len(blocks) == MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= MAX_HEADER_TEXT
    assert blocks[0]["text"]["text"].endswith("…")
    assert blocks[-1]["type"] == "actions", "feedback buttons must survive truncation"
    assert any(b["type"] == "context" and "more citations" in b["elements"][0]["text"] for b in blocks)
    assert len(text) <= 3000


def test_abstention_says_so_and_offers_closest_passages() -> None:
    data = _response("The documents do not answer this question.", [], abstained=True)
    _, blocks = answer_message(
        "What is the moon made of?", data, answer_id="y", surface="slash", base_url=BASE
    )
    _check_limits(blocks)
    assert blocks[1]["text"]["text"] == "The documents do not answer this question."
    assert any(b["type"] == "context" and "Closest passages" in b["elements"][0]["text"] for b in blocks)
    quote_block = next(b for b in blocks if b["type"] == "rich_text")
    assert quote_block["elements"][1]["elements"][0]["text"] == "closest passage text"
    link = next(e for e in quote_block["elements"][0]["elements"] if e["type"] == "link")
    assert link["url"] == f"{BASE}/#/doc/002_y.txt?start=5&end=25"


def test_citation_url_encodes_source() -> None:
    url = citation_url(BASE + "/", "sub dir/été & co?.txt", 3, 9)
    assert url == f"{BASE}/#/doc/sub%20dir/%C3%A9t%C3%A9%20%26%20co%3F.txt?start=3&end=9"


def test_split_text_prefers_word_breaks() -> None:
    pieces = split_text("alpha beta gamma delta", 11)
    assert pieces == ["alpha beta", "gamma delta"]
    assert all(len(p) <= 11 for p in pieces)
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_feedback_value_is_bounded_and_round_trips() -> None:
    question = 'é"\\' * 1500
    value = feedback_value("id1", question, "dm")
    assert len(value) <= MAX_BUTTON_VALUE
    parsed = parse_feedback_value(value)
    assert parsed["id"] == "id1" and parsed["s"] == "dm"
    assert question.startswith(parsed["q"].rstrip("…"))
    assert parse_feedback_value("not json") == {"id": "", "s": "", "q": ""}
    assert parse_feedback_value("[1]") == {"id": "", "s": "", "q": ""}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<@UBOT> who lifted the ban?", "who lifted the ban?"),
        ("<@UBOT|verbatim>   what   about <#C123|general>?", "what about #general?"),
        ("<!here> is &lt;b&gt; &amp; c in <https://x.org/a|the doc>?", "is <b> & c in the doc?"),
        ("see <https://x.org/a> <@W999>", "see https://x.org/a"),
        ("<@UBOT>", ""),
    ],
)
def test_clean_question(raw: str, expected: str) -> None:
    assert clean_question(raw) == expected


def test_recent_keys_expire_and_stay_bounded() -> None:
    now = [0.0]
    keys = RecentKeys(ttl_seconds=10, max_size=3, clock=lambda: now[0])
    assert keys.seen_or_add("a") is False
    assert keys.seen_or_add("a") is True
    now[0] = 11
    assert keys.seen_or_add("a") is False, "expired keys are forgotten"
    for k in "bcdef":
        keys.seen_or_add(k)
    assert len(keys) <= 3


def test_missing_slack_credentials_refuse_to_start(tmp_path: Any) -> None:
    with pytest.raises(BotConfigError, match="SLACK_SIGNING_SECRET"):
        create_bot_app(Settings(data_dir=tmp_path, slack_bot_token="xoxb-1"))
    with pytest.raises(BotConfigError, match="SLACK_BOT_TOKEN"):
        create_bot_app(Settings(data_dir=tmp_path, slack_signing_secret="s"))


def test_feedback_value_json_is_compact() -> None:
    assert json.loads(feedback_value("i", "q?", "slash")) == {"id": "i", "s": "slash", "q": "q?"}


def _client(handler: Any) -> Any:
    import httpx

    from verbatim.service.bot.api import VerbatimClient

    settings = Settings(api_url="http://api.invalid", api_keys="k1,k2")
    return VerbatimClient(settings, timeout=2, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "phrase"),
    [
        (422, {"detail": "question must be 1-2000 characters"}, {}, "bad_request", "1-2000 characters"),
        (422, {"detail": [{"msg": "field required"}]}, {}, "bad_request", "field required"),
        (429, {"detail": "slow down"}, {"Retry-After": "7"}, "rate_limited", "in 7 seconds"),
        (401, {"detail": "bad key"}, {}, "unauthorized", "couldn't reach"),
        (500, {"detail": "boom"}, {}, "server_error", "couldn't reach"),
        (200, ["not", "a", "dict"], {}, "bad_response", "couldn't reach"),
    ],
)
def test_api_errors_become_user_messages(
    status: int, body: Any, headers: dict[str, str], kind: str, phrase: str
) -> None:
    import asyncio

    import httpx

    from verbatim.service.bot.api import ApiError

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body, headers=headers)

    async def run() -> ApiError:
        client = _client(handler)
        try:
            await client.ask("q?")
        except ApiError as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("expected ApiError")

    exc = asyncio.run(run())
    assert exc.kind == kind and phrase in exc.user_message
    assert seen[0].headers["authorization"] == "Bearer k1"
    assert json.loads(seen[0].content) == {"question": "q?"}


def test_the_asked_for_value_is_bold_inside_the_quote() -> None:
    quote = "The default timeout is 30 seconds."
    start = 100
    at = start + quote.index("30")
    data = {
        "answer": f"“{quote}” [1]",
        "abstained": False,
        "citations": [
            {"n": 1, "source": "a.md", "title": "Pool", "quote": quote, "start": start,
             "end": start + len(quote), "highlights": [{"start": at, "end": at + 2}]}
        ],
    }  # fmt: skip
    _, blocks = answer_message("timeout?", data, answer_id="x", surface="dm", base_url="http://h")
    runs = next(b for b in blocks if b.get("block_id") == "citation-1")["elements"][1]["elements"]
    assert [r["text"] for r in runs] == ["The default timeout is ", "30", " seconds."]
    assert runs[1]["style"] == {"bold": True} and "style" not in runs[0]
    assert "".join(r["text"] for r in runs) == quote  # still verbatim
