"""A readable terminal rendering of an /ask response (formatting on a TTY, plain text in a pipe)."""

from __future__ import annotations

import textwrap
from typing import Any


def render_answer_text(data: dict[str, Any], color: bool = False) -> str:
    """Answer, then each quote with its source, title and offsets."""
    bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
    dim = (lambda s: f"\033[2m{s}\033[0m") if color else (lambda s: s)
    lines = []
    corrections = data.get("corrections") or []
    if corrections:
        read = ", ".join(f"{c.get('from')} → {c.get('to')}" for c in corrections)
        lines.append(dim(f"(read as: {read})"))
    lines.append(bold("Answer") if color else "Answer:")
    lines += textwrap.wrap(data["answer"], 100) or [""]
    if data.get("warning"):
        lines.append(f"warning: {data['warning']}")
    if data["citations"]:
        lines.append("")
        lines.append(bold("Sources") if color else "Sources:")
        for c in data["citations"]:
            where = " › ".join(c.get("section") or []) or c["title"]
            page = f", page {c['page']}" if c.get("page") else ""
            lines.append(f"[{c['n']}] {where}")
            lines.append(dim(f"    {c['source']}{page}, chars {c['start']}-{c['end']}"))
            lines += ["    > " + w for w in textwrap.wrap(_marked(c, bold if color else None), 94)]
    elif data.get("abstained") and data.get("passages"):
        lines.append("")
        lines.append(bold("Closest passages") if color else "Closest passages:")
        for p in data["passages"][:3]:
            lines.append(
                f"- {p['title']} ({p['source']} chars {p['start']}-{p['end']}, score {p['score']:.2f})"
            )
    return "\n".join(lines)


def _marked(citation: dict[str, Any], bold: Any) -> str:
    """The quote, with the asked-for value (its highlights) in bold on a terminal."""
    quote, start = str(citation["quote"]), int(citation["start"])
    if bold is None:
        return quote
    for h in sorted(citation.get("highlights") or [], key=lambda h: -int(h["start"])):
        s, e = int(h["start"]) - start, int(h["end"]) - start
        if 0 <= s < e <= len(quote):
            quote = quote[:s] + bold(quote[s:e]) + quote[e:]
    return quote
