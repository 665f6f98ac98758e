"""A readable terminal rendering of an /ask response (formatting on a TTY, plain text in a pipe)."""

from __future__ import annotations

import textwrap
from typing import Any


def render_answer_text(data: dict[str, Any], color: bool = False) -> str:
    """Answer, then each quote with its source, title and offsets."""
    bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
    dim = (lambda s: f"\033[2m{s}\033[0m") if color else (lambda s: s)
    lines = [bold("Answer") if color else "Answer:"]
    lines += textwrap.wrap(data["answer"], 100) or [""]
    if data.get("warning"):
        lines.append(f"warning: {data['warning']}")
    if data["citations"]:
        lines.append("")
        lines.append(bold("Sources") if color else "Sources:")
        for c in data["citations"]:
            lines.append(f"[{c['n']}] {c['title']}")
            lines.append(dim(f"    {c['source']} chars {c['start']}-{c['end']}"))
            lines += ["    > " + w for w in textwrap.wrap(c["quote"], 94)]
    elif data.get("abstained") and data.get("passages"):
        lines.append("")
        lines.append(bold("Closest passages") if color else "Closest passages:")
        for p in data["passages"][:3]:
            lines.append(
                f"- {p['title']} ({p['source']} chars {p['start']}-{p['end']}, score {p['score']:.2f})"
            )
    return "\n".join(lines)
