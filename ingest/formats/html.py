"""HTML: the page's main content (trafilatura), laid out as text with headings, paragraphs, lists, tables.

trafilatura finds the main content and drops navigation, sidebars, ads and footers; its XML output keeps
the structure (`head`, `p`, `list/item`, `table/row/cell`, `code`, `quote`). We lay those elements out
ourselves (`TextBuilder`), so every block's offsets in the stored text are known. On a page too small
for trafilatura's content scoring (it then returns one undifferentiated paragraph, menus included), the
page's own elements are walked instead, with the semantic page furniture (`nav`, `header`, `footer`,
`aside`, forms, scripts) removed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree
from lxml import html as lxml_html

from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats.assemble import TextBuilder, inline
from verbatim.ingest.formats.encoding import decode_bytes
from verbatim.ingest.reader import ReadProblem

log = logging.getLogger("verbatim.formats.html")

# Tags of trafilatura's XML and of HTML, mapped to one vocabulary.
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_PARAGRAPH = {"p", "blockquote", "quote", "address", "figcaption", "caption", "summary"}
_LISTS = {"list", "ul", "ol", "dl", "menu"}
_ITEMS = {"item", "li", "dt", "dd"}
_CODE = {"code", "pre"}
_ROWS = {"row", "tr"}
_CELLS = {"cell", "td", "th"}
_BREAK = {"lb", "br"}
_SKIP = {"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "graphic", "img"}
_FURNITURE = (  # relative to the region walked
    ".//nav|.//header|.//footer|.//aside|.//form|.//button|.//select|.//input|.//textarea|.//script"
    "|.//style|.//noscript|.//template|.//iframe|.//svg"
    "|.//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='search' or "
    "@role='complementary']"
)
_WHITESPACE = re.compile(r"\s+")
_PERMALINK_MARKS = {"¶", "#", "§", "🔗", "⚓", "†"}


def read_html(path: Path, source: str, data: bytes) -> ParsedDocument | ReadProblem:
    """Main content of an HTML page as text with blocks; a reason when nothing readable is in it."""
    if not data.strip():
        return ReadProblem(source, "empty file")
    text, encoding = decode_bytes(data)
    if "\x00" in text[:8192] and not encoding.startswith("utf-16"):
        return ReadProblem(source, "not an HTML page: binary content (NUL bytes)")
    try:
        tree = lxml_html.fromstring(
            text.encode("utf-8"), parser=lxml_html.HTMLParser(encoding="utf-8", remove_comments=True)
        )
    except (etree.ParserError, ValueError) as exc:
        return ReadProblem(source, f"malformed HTML ({exc or 'no elements'})")
    _drop_permalinks(tree)
    page_title = _page_title(tree)
    builder = _main_content(tree)
    if not builder.blocks:
        return ReadProblem(source, "no readable text in the HTML page")
    doc_text = builder.text()
    first_h1 = next(
        (doc_text[b.start : b.end] for b in builder.blocks if b.kind == "heading" and b.level == 1), None
    )
    return ParsedDocument(
        source,
        path,
        "html",
        doc_text,
        hashlib.sha256(data).hexdigest(),
        title=first_h1 or page_title,
        blocks=tuple(builder.blocks),
        converted=True,
    )


def _main_content(tree: Any) -> TextBuilder:
    """The page's main content, in this order of trust:
    1. the region the page itself declares as main (`<main>` or `role="main"`, HTML5 and ARIA), walked
       with its own structure, less page furniture: the author's word beats any heuristic;
    2. trafilatura's extraction, when it kept the page's section headings (it can drop a whole section
       of documentation, or every heading of a DocBook page, as boilerplate);
    3. the page's own structure, less page furniture (navigation, header, footer, forms, sidebars)."""
    declared = tree.xpath("//main|//*[@role='main']")
    if len(declared) == 1:
        builder = _walk_region(declared[0])
        if builder.blocks:
            return builder
    extracted = _from_trafilatura(tree)
    if extracted is not None and _keeps_headings(tree, extracted):
        return extracted
    body = tree.find("body")
    return _walk_region(body if body is not None else tree)


def _walk_region(root: Any) -> TextBuilder:
    builder = TextBuilder()
    for bad in root.xpath(_FURNITURE):
        if bad is not root and bad.getparent() is not None:
            bad.drop_tree()
    _walk(root, builder)
    return builder


def _keeps_headings(tree: Any, extracted: TextBuilder) -> bool:
    """Whether an extraction kept at least half of the page's h1–h3 headings (when it has two or more)."""
    headings = {_WHITESPACE.sub(" ", h.text_content()).strip() for h in tree.xpath("//h1|//h2|//h3")}
    headings.discard("")
    if len(headings) < 2:
        return True
    text = extracted.text()
    kept = sum(1 for h in headings if h in text)
    return kept * 2 >= len(headings)


def _from_trafilatura(tree: Any) -> TextBuilder | None:
    """Blocks of trafilatura's main content, or None when it found no structure worth trusting."""
    import trafilatura

    try:
        xml = trafilatura.extract(
            lxml_html.fromstring(lxml_html.tostring(tree)),  # trafilatura prunes the tree it is given
            output_format="xml",
            include_tables=True,
            include_formatting=False,
            include_comments=False,
            include_images=False,
            include_links=False,
            favor_recall=True,
            deduplicate=False,
            with_metadata=False,
        )
    except Exception:  # a bug in a third-party extractor must not cost the file: walk the page instead
        log.exception("trafilatura failed; reading the page's own structure")
        return None
    if not xml:
        return None
    try:
        main = etree.fromstring(xml.encode("utf-8")).find("main")
    except etree.XMLSyntaxError:
        return None
    if main is None:
        return None
    builder = TextBuilder()
    _walk(main, builder)
    return builder if len(builder.blocks) > 1 else None


def _drop_permalinks(tree: Any) -> None:
    """Heading anchors such as Sphinx's `¶` are page furniture, not heading text."""
    for a in tree.iter("a"):
        if (a.get("href") or "").startswith("#") and (a.text_content() or "").strip() in _PERMALINK_MARKS:
            a.drop_tree()


def _page_title(tree: Any) -> str | None:
    for query in ("//meta[@property='og:title']/@content", "//title"):
        found = tree.xpath(query)
        if found:
            value = found[0] if isinstance(found[0], str) else found[0].text_content()
            title = inline(str(value))
            if title:
                return title
    return None


def _tag(element: Any) -> str:
    return element.tag.lower() if isinstance(element.tag, str) else ""


def _walk(element: Any, builder: TextBuilder) -> None:
    """Emit the blocks under `element` in document order; loose text becomes a paragraph."""
    loose: list[str] = [element.text or ""]

    def flush() -> None:
        builder.add(inline("".join(loose)), "paragraph")
        loose.clear()

    for child in element:
        tag = _tag(child)
        if tag in _SKIP or not tag:
            pass
        elif tag == "head" or tag in _HEADINGS:
            flush()
            level = _HEADINGS.get(tag) or _HEADINGS.get((child.get("rend") or "").lower(), 2)
            builder.add(inline(_text(child)), "heading", level)
        elif tag in _PARAGRAPH:
            flush()
            if any(_tag(c) in _LISTS | _ROWS | {"table", "pre"} for c in child.iterdescendants()):
                _walk(child, builder)
            else:
                builder.add(_paragraph_text(child), "paragraph")
        elif tag in _LISTS:
            flush()
            _list(child, builder)
        elif tag == "table":
            flush()
            _table(child, builder)
        elif tag in _CODE and _block_code(child, loose):
            flush()
            builder.add(_text(child).rstrip(), "code")
        elif tag in _BREAK:
            loose.append("\n")
        elif _has_blocks(child):
            flush()
            _walk(child, builder)
        else:
            loose.append(_text(child))
        loose.append(child.tail or "")
    flush()


def _block_code(element: Any, loose: list[str]) -> bool:
    """`pre`, or `code` standing alone or spanning lines, is a code block; other `code` is inline."""
    if _tag(element) == "pre" or "\n" in _text(element).strip():
        return True
    return not (element.tail or "").strip() and not "".join(loose).strip()


def _has_blocks(element: Any) -> bool:
    block_tags = _PARAGRAPH | _LISTS | _ITEMS | _ROWS | set(_HEADINGS) | {"head", "table", "div", "pre"}
    return any(_tag(c) in block_tags for c in element.iterdescendants())


def _text(element: Any) -> str:
    return "".join(element.itertext())


def _paragraph_text(element: Any) -> str:
    """A paragraph's text; `<br>` line breaks are kept, other whitespace collapses."""
    pieces: list[str] = []

    def visit(node: Any) -> None:  # text, then children (each followed by its tail): document order
        pieces.append(_spaces(node.text))
        for child in node:
            tag = _tag(child)
            if tag in _BREAK:
                pieces.append("\n")
            elif tag and tag not in _SKIP:
                visit(child)
            pieces.append(_spaces(child.tail))

    visit(element)
    return "\n".join(filter(None, (inline(line) for line in "".join(pieces).split("\n"))))


def _spaces(text: str | None) -> str:
    return _WHITESPACE.sub(" ", text or "")


def _items(element: Any) -> Iterator[Any]:
    for child in element:
        if _tag(child) in _ITEMS:
            yield child


def _list(element: Any, builder: TextBuilder) -> None:
    """One line per item; a definition term is joined to its definition ("term: definition")."""
    builder.break_group()
    group = object()
    pending_term: str | None = None
    for item in _items(element):
        nested = [c for c in item.iterdescendants() if _tag(c) in _LISTS | {"table", "pre"}]
        own = inline(_own_text(item, nested))
        kind = (item.get("rend") or _tag(item)).lower()
        if kind.startswith("dt"):
            if pending_term:
                builder.add(pending_term, "list_item", group=group)
            pending_term = own
            continue
        if pending_term is not None:
            own = f"{pending_term.rstrip(':')}: {own}" if own else pending_term
            pending_term = None
        builder.add(own, "list_item", group=group)
        for sub in nested:
            if not any(a in nested for a in sub.iterancestors()):
                if _tag(sub) in _LISTS:
                    _list(sub, builder)
                elif _tag(sub) == "table":
                    _table(sub, builder)
                else:
                    builder.add(_text(sub).rstrip(), "code")
                builder.break_group()
                group = object()
    if pending_term:
        builder.add(pending_term, "list_item", group=group)
    builder.break_group()


def _own_text(item: Any, nested: list[Any]) -> str:
    """An item's text without its nested lists, tables and code (those are blocks of their own), in
    document order: an element's text, then each child's text and tail."""
    skip = set(nested)
    pieces: list[str] = []

    def visit(node: Any) -> None:
        pieces.append(node.text or "")
        for child in node:
            if child in skip:
                pieces.append(" ")
            elif _tag(child) and _tag(child) not in _SKIP:
                visit(child)
            pieces.append(child.tail or "")

    visit(item)
    return "".join(pieces)


def _table(element: Any, builder: TextBuilder) -> None:
    """One line per row, cells joined with " | "."""
    builder.break_group()
    group = object()
    for row in element.iter():
        if _tag(row) not in _ROWS or any(_tag(a) in _ROWS for a in row.iterancestors()):
            continue
        cells = [inline(_text(c)) for c in row if _tag(c) in _CELLS]
        builder.add(" | ".join(c for c in cells if c), "table_row", group=group)
    builder.break_group()
