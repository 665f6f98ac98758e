"""Block Kit rendering of Verbatim answers, within Slack's documented limits.

Quotes are shown as Slack quote blocks (`rich_text_quote`) holding the raw text, so what users see
is exactly the cited span; the answer itself is plain text for the same reason (no mrkdwn
reinterpretation of `*`, `_` or `~` in the source). Everything here is pure and unit-testable.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote as urlquote
from urllib.parse import urlencode

# Slack limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 2000
MAX_BUTTON_VALUE = 2000
MAX_BLOCK_ID = 255
# Top-level `text` is the notification / fallback text; Slack truncates past 40k, keep it readable.
MAX_FALLBACK_TEXT = 3000
# No documented cap for rich text elements; stay within the section limit to be safe.
MAX_QUOTE_TEXT = 2900
MAX_ANSWER_SECTIONS = 5
MAX_ABSTAIN_PASSAGES = 3
MAX_ABSTAIN_PASSAGE_TEXT = 700

FEEDBACK_HELPFUL = "verbatim_feedback_helpful"
FEEDBACK_NOT_HELPFUL = "verbatim_feedback_not_helpful"
FEEDBACK_ACTIONS = {FEEDBACK_HELPFUL: "helpful", FEEDBACK_NOT_HELPFUL: "not_helpful"}

Block = dict[str, Any]


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def citation_url(base_url: str, source: str, start: int, end: int) -> str:
    """Link that opens a cited span on the web page, highlighted (`/#/doc/{source}?start=&end=`).

    A person lands on the page, not on JSON; with API keys on, the page (open without a key) asks for
    the key instead of showing a 401. Same format as `verbatim.service.web.links.page_link`."""
    query = urlencode({"start": int(start), "end": int(end)})
    return f"{base_url.rstrip('/')}/#/doc/{urlquote(source, safe='/')}?{query}"


def split_text(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most `limit` characters, preferring line then word breaks."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


_USER_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<![^>]*>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def clean_question(text: str) -> str:
    """Turn Slack message markup into the plain question a user typed.

    Mentions (the bot's and anyone else's) and `@here`-style specials are dropped, channel
    references and links become their labels, and Slack's HTML entities are unescaped.
    """
    text = _USER_MENTION.sub(" ", text or "")
    text = _SPECIAL.sub(" ", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(1)}" if m.group(1) else " ", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def feedback_value(answer_id: str, question: str, surface: str) -> str:
    """Button value carrying enough to log feedback even after a bot restart (≤ 2000 chars)."""
    payload = {"id": answer_id, "s": surface, "q": question}
    value = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    while len(value) > MAX_BUTTON_VALUE:
        over = len(value) - MAX_BUTTON_VALUE
        payload["q"] = truncate(payload["q"], max(len(payload["q"]) - over - 1, 0))
        value = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return value


def parse_feedback_value(value: str | None) -> dict[str, str]:
    """Inverse of `feedback_value`; tolerant of values from older bot versions or tampering."""
    try:
        data = json.loads(value or "")
    except ValueError:
        return {"id": "", "s": "", "q": ""}
    if not isinstance(data, dict):
        return {"id": "", "s": "", "q": ""}
    return {k: str(data.get(k) or "")[:MAX_BUTTON_VALUE] for k in ("id", "s", "q")}


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": False}


def _header(question: str) -> Block:
    return {"type": "header", "text": _plain(truncate(question, MAX_HEADER_TEXT))}


def _answer_sections(answer: str) -> list[Block]:
    text = answer.strip() or "(empty answer)"
    pieces = split_text(text, MAX_SECTION_TEXT)
    if len(pieces) > MAX_ANSWER_SECTIONS:
        pieces = pieces[:MAX_ANSWER_SECTIONS]
        pieces[-1] = truncate(pieces[-1] + " …", MAX_SECTION_TEXT)
    return [{"type": "section", "text": _plain(p)} for p in pieces]


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_CONTEXT_TEXT)}]}


def _quote_elements(quote: str, start: int = 0, highlights: list[Any] | None = None) -> list[Block]:
    """The quote as rich-text runs, the asked-for value (a highlight: offsets into the document, inside
    the quote) in bold; runs past the truncation point are dropped."""
    text = truncate(quote, MAX_QUOTE_TEXT) or "…"
    spans = sorted(
        (int(h["start"]) - start, int(h["end"]) - start)
        for h in highlights or []
        if isinstance(h, dict) and 0 <= int(h.get("start", -1)) - start < int(h.get("end", -1)) - start
    )
    kept = len(text) if text == quote else len(text) - 1  # a truncated quote ends with "…"
    runs: list[Block] = []
    cursor = 0
    for s, e in spans:
        if s < cursor or e > kept:
            continue
        if s > cursor:
            runs.append({"type": "text", "text": text[cursor:s]})
        runs.append({"type": "text", "text": text[s:e], "style": {"bold": True}})
        cursor = e
    if cursor < len(text):
        runs.append({"type": "text", "text": text[cursor:]})
    return runs


def _quote_block(
    block_id: str, label: str, title: str, url: str, source: str, quote: str, runs: list[Block] | None = None
) -> Block:
    """A Slack quote block: `[n] Title` linked to the span in context, then the verbatim quote."""
    return {
        "type": "rich_text",
        "block_id": block_id[:MAX_BLOCK_ID],
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": f"{label} ", "style": {"bold": True}},
                    {"type": "link", "url": url, "text": truncate(title or source, 300)},
                    {"type": "text", "text": f"  ·  {truncate(source, 200)}", "style": {"italic": True}},
                ],
            },
            {
                "type": "rich_text_quote",
                "elements": runs or _quote_elements(quote),
            },
        ],
    }


def _feedback_actions(answer_id: str, question: str, surface: str) -> Block:
    value = feedback_value(answer_id, question, surface)
    return {
        "type": "actions",
        "block_id": f"feedback:{answer_id}"[:MAX_BLOCK_ID],
        "elements": [
            {
                "type": "button",
                "action_id": FEEDBACK_HELPFUL,
                "text": {"type": "plain_text", "text": ":+1: Helpful", "emoji": True},
                "value": value,
            },
            {
                "type": "button",
                "action_id": FEEDBACK_NOT_HELPFUL,
                "text": {"type": "plain_text", "text": ":-1: Not helpful", "emoji": True},
                "value": value,
            },
        ],
    }


def _footer(data: dict[str, Any]) -> Block:
    bits = ["Verbatim"]
    if data.get("backend"):
        bits.append(str(data["backend"]))
    total = (data.get("timings_ms") or {}).get("total") if isinstance(data.get("timings_ms"), dict) else None
    if isinstance(total, int | float):
        bits.append(f"{total:.0f} ms")
    bits.append("quotes are verbatim; links open them in context")
    return _context(escape_mrkdwn(" · ".join(bits)))


def _fallback(answer: str, refs: list[tuple[str, str, str]]) -> str:
    """Plain-text rendering for notifications and clients that cannot show blocks."""
    lines = [escape_mrkdwn(answer.strip())]
    for label, title, url in refs:
        safe_title = escape_mrkdwn(title).replace("|", "¦")
        lines.append(f"{label} <{url}|{safe_title}>")
    return truncate("\n".join(lines), MAX_FALLBACK_TEXT)


def answer_message(
    question: str, data: dict[str, Any], *, answer_id: str, surface: str, base_url: str
) -> tuple[str, list[Block]]:
    """Render an `/ask` response as (fallback text, blocks), never exceeding `MAX_BLOCKS`."""
    answer = str(data.get("answer") or "")
    abstained = bool(data.get("abstained"))
    head = [_header(question), *_answer_sections(answer)]
    tail = [_footer(data), _feedback_actions(answer_id, question, surface)]
    body: list[Block] = []
    refs: list[tuple[str, str, str]] = []

    if abstained:
        passages = [p for p in data.get("passages") or [] if isinstance(p, dict)][:MAX_ABSTAIN_PASSAGES]
        if passages:
            body.append(_context("*Closest passages* (they may not answer the question):"))
        for i, p in enumerate(passages, 1):
            source, title = str(p.get("source", "")), str(p.get("title") or p.get("source", ""))
            url = citation_url(base_url, source, int(p.get("start", 0)), int(p.get("end", 0)))
            text = truncate(str(p.get("text", "")).strip(), MAX_ABSTAIN_PASSAGE_TEXT)
            body.append(_quote_block(f"passage-{i}", f"({i})", title, url, source, text))
            refs.append((f"({i})", title, url))
    else:
        citations = [c for c in data.get("citations") or [] if isinstance(c, dict)]
        room = MAX_BLOCKS - len(head) - len(tail)
        shown = citations if len(citations) <= room else citations[: room - 1]
        for i, c in enumerate(shown, 1):
            n = c.get("n", i)
            source, title = str(c.get("source", "")), str(c.get("title") or c.get("source", ""))
            url = citation_url(base_url, source, int(c.get("start", 0)), int(c.get("end", 0)))
            quote = str(c.get("quote", ""))
            runs = _quote_elements(quote, int(c.get("start", 0)), c.get("highlights"))
            body.append(_quote_block(f"citation-{i}", f"[{n}]", title, url, source, quote, runs))
            refs.append((f"[{n}]", title, url))
        if len(shown) < len(citations):
            body.append(_context(f"…and {len(citations) - len(shown)} more citations not shown."))

    blocks = [*head, *body, *tail]
    assert len(blocks) <= MAX_BLOCKS, len(blocks)
    return _fallback(answer, refs), blocks


def notice_message(text: str) -> tuple[str, list[Block]]:
    """A short notice (apology, usage hint) as fallback text plus one section block."""
    return truncate(text, MAX_FALLBACK_TEXT), [
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}
    ]
