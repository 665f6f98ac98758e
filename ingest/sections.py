"""Sections of a structured document: the heading path of every block, the spans of the sections, and
the kept blocks grouped so that a chunk never straddles a section or a dropped span."""

from __future__ import annotations

from collections.abc import Callable

from verbatim.ingest.chunker import Unit
from verbatim.ingest.cleaner import CleanResult
from verbatim.ingest.document import Block, ParsedDocument, heading_label


def block_sections(doc: ParsedDocument) -> list[tuple[str, ...]]:
    """The section path (document title first) of each block of `doc`, in one pass."""
    stack: list[tuple[int, str]] = []
    paths: list[tuple[str, ...]] = []
    for block in doc.blocks:
        if block.kind == "heading":
            label = heading_label(doc.text[block.start : block.end])
            if label:
                while stack and stack[-1][0] >= block.level:
                    stack.pop()
                stack.append((block.level, label))
        path = [title for _, title in stack]
        if doc.title and (not path or path[0] != doc.title):
            path.insert(0, doc.title)
        paths.append(tuple(path))
    return paths


Path = tuple[str, ...]


def section_spans(doc: ParsedDocument, paths: list[Path]) -> list[tuple[Path, int, int]]:
    """(path, start, end) of every section: from its heading to the last block before the next heading
    of the same or a higher level."""
    blocks = doc.blocks
    spans = []
    for i, block in enumerate(blocks):
        if block.kind != "heading" or not heading_label(doc.text[block.start : block.end]):
            continue
        end = block.end
        for later in blocks[i + 1 :]:
            if later.kind == "heading" and later.level <= block.level:
                break
            end = later.end
        spans.append((paths[i], block.start, end))
    return spans


def unit_groups(
    doc: ParsedDocument,
    cleaned: CleanResult,
    paths: list[tuple[str, ...]],
    count_tokens: Callable[[str], int],
) -> list[list[Unit]]:
    """Kept blocks as chunkable units, in runs of one section with nothing dropped between them."""
    groups: list[list[Unit]] = []
    current: list[Unit] = []
    pieces = iter(cleaned.kept)
    piece = next(pieces, None)
    for line, path in zip(cleaned.lines, paths, strict=True):
        if line.reason:  # dropped: the run ends here
            current = _close(groups, current)
            continue
        first = True
        while piece is not None and piece[0] < line.end:
            if piece[1] > line.start:
                if not first or (current and current[-1].section != path):
                    current = _close(groups, current)
                start, end = piece
                tokens = count_tokens(doc.text[start:end]) - 2
                current.append(Unit(start, end, line.kind, path, tokens))
                first = False
            piece = next(pieces, None)
    _close(groups, current)
    return groups


def _close(groups: list[list[Unit]], current: list[Unit]) -> list[Unit]:
    if current:
        groups.append(current)
    return []


def document_span(blocks: list[Block] | tuple[Block, ...]) -> tuple[int, int]:
    return (blocks[0].start, blocks[-1].end) if blocks else (0, 0)
