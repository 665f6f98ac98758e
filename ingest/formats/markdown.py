"""Markdown: structure from markdown-it-py (CommonMark + GFM tables + YAML front matter).

markdown-it reports every block token with the source lines it covers (`token.map`); `Lines` turns them
into exact offsets of the raw file. Headings (ATX and setext) span their words without the `#` marks or
the underline; paragraphs span all their hard-wrapped lines; each list item's text is its own block
(without the marker); each table row is a block (without the outer pipes; the delimiter row is
markup); fenced and indented code is `code` (fences excluded); HTML blocks (badges, `<div>`, `<img>`,
sponsor markup) are `html`, never prose and never a title.

Title: front matter `title`, else the first H1, else the first heading, else the file name stem.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from verbatim.ingest.document import Block, BlockKind, ParsedDocument, heading_label
from verbatim.ingest.formats.lines import Lines
from verbatim.ingest.formats.text import decode_text
from verbatim.ingest.reader import ReadProblem

_PARSER = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
_ATX_OPEN = re.compile(r"[ \t]*#{1,6}(?:[ \t]+|$)")
_ATX_CLOSE = re.compile(r"(?:[ \t]+#+)?[ \t]*$")
_PREFIX = re.compile(r"[ \t]*(?:>[ \t]?)*")  # blockquote markers before a paragraph's first line
_MARKER = re.compile(r"[ \t]*(?:>[ \t]?)*(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|$)(?:\[[ xX]\][ \t]+)?")
_FRONT_KEY = re.compile(r"^(title|author|date)[ \t]*:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def read_markdown(path: Path, source: str, data: bytes) -> ParsedDocument | ReadProblem:
    text = decode_text(source, data)
    if isinstance(text, ReadProblem):
        return text
    blocks, meta = markdown_blocks(text)
    title = meta.pop("title", None) or document_title(text, blocks) or path.stem
    return ParsedDocument(
        source,
        path,
        "markdown",
        text,
        hashlib.sha256(data).hexdigest(),
        title=title,
        blocks=tuple(blocks),
        meta=meta,
    )


def document_title(text: str, blocks: list[Block]) -> str | None:
    """The first H1's words, else the first heading's; None when no heading has words."""
    headings = [b for b in blocks if b.kind == "heading"]
    for candidates in ([b for b in headings if b.level == 1], headings):
        for block in candidates:
            label = heading_label(text[block.start : block.end])
            if label:
                return label
    return None


def markdown_blocks(text: str) -> tuple[list[Block], dict[str, str]]:
    """The blocks of a Markdown text, in order, and the front matter's title/author/date."""
    lines = Lines.of(text)
    tokens = _PARSER.parse(text)
    blocks: list[Block] = []
    meta: dict[str, str] = {}
    item_lines: list[int] = []  # first line of each open list item
    for i, token in enumerate(tokens):
        if token.type == "list_item_open" and token.map:
            item_lines.append(token.map[0])
        elif token.type == "list_item_close" and item_lines:
            item_lines.pop()
        elif token.type == "front_matter":
            meta.update({k: _unquote(v) for k, v in _FRONT_KEY.findall(token.content)})
        block = _block_of(token, tokens, i, lines, item_lines)
        if block is not None:
            blocks.append(block)
    return _in_order(blocks), meta


def _block_of(token: Token, tokens: list[Token], i: int, lines: Lines, item_lines: list[int]) -> Block | None:
    if not token.map:
        return None
    first, last = token.map[0], token.map[1] - 1
    if token.type == "heading_open":
        inline = tokens[i + 1]
        level = int(token.tag[1])
        if token.markup.startswith("#"):
            return _atx_heading(lines, first, level)
        text_last = inline.map[1] - 1 if inline.map else last - 1
        return lines.block(first, text_last, "heading", level, _skip(_PREFIX, lines, first))
    if token.type == "paragraph_open":
        if item_lines and item_lines[-1] == first:
            return lines.block(first, last, "list_item", 0, _skip(_MARKER, lines, first))
        kind: BlockKind = "list_item" if item_lines else "paragraph"
        if _markup_only(tokens[i + 1]):
            kind = "html"
        return lines.block(first, last, kind, 0, _skip(_PREFIX, lines, first))
    if token.type == "tr_open":
        block = lines.block(first, last, "table_row")
        if block is None:
            return None
        start, end = block.start, block.end
        if lines.text[start] == "|":
            start += 1
        if end > start and lines.text[end - 1] == "|" and lines.text[end - 2 : end] != "\\|":
            end -= 1
        return lines.block_span(start, end, "table_row")
    if token.type == "fence":
        body_last = first + token.content.count("\n")
        return lines.block(first + 1, body_last, "code")
    if token.type == "code_block":
        return lines.block(first, last, "code")
    if token.type == "html_block":
        return lines.block(first, last, "html")
    return None


def _markup_only(inline: Token) -> bool:
    """A paragraph of images, badges and inline HTML only (no words outside them) is markup, not prose."""
    children = inline.children or []
    if not any(c.type in ("image", "html_inline") for c in children):
        return False
    return not any(
        c.type in ("text", "code_inline") and any(ch.isalnum() for ch in c.content) for c in children
    )


def _atx_heading(lines: Lines, n: int, level: int) -> Block | None:
    start, end = lines.spans[n]
    line = lines.text[start:end]
    opened = _ATX_OPEN.match(line)
    head = opened.end() if opened else 0
    closed = _ATX_CLOSE.search(line, head)
    tail = closed.start() if closed else len(line)
    return lines.block_span(start + head, start + tail, "heading", level)


def _skip(pattern: re.Pattern[str], lines: Lines, n: int) -> int:
    """How many characters of line n (after its leading whitespace) a marker takes."""
    line = lines.line(n)
    stripped = len(line) - len(line.lstrip())
    match = pattern.match(line)
    return max(0, match.end() - stripped) if match else 0


def _in_order(blocks: list[Block]) -> list[Block]:
    """Sorted, and never overlapping (a later block starting inside an earlier one is dropped)."""
    ordered: list[Block] = []
    for block in sorted(blocks, key=lambda b: (b.start, -b.end)):
        if ordered and block.start < ordered[-1].end:
            continue
        ordered.append(block)
    return ordered


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value
