"""Line geometry shared by the text-format readers: where each line of the raw text starts and ends.

Parsers report structure by line number (markdown-it's token maps, the reST and plain-text scanners);
these helpers turn line ranges into exact character offsets of the raw file, whatever its newlines
(`\\n`, `\\r\\n` or `\\r`, as markdown-it counts them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from verbatim.ingest.document import Block, BlockKind

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


@dataclass(frozen=True)
class Lines:
    """The raw text and the [start, end) span of each of its lines (newline excluded)."""

    text: str
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, text: str) -> Lines:
        spans = []
        for match in _LINE.finditer(text):
            if match.start() == len(text) and not match.group(0):
                break
            spans.append((match.start(), match.start() + len(match.group(0).rstrip("\r\n"))))
        return cls(text, tuple(spans))

    def __len__(self) -> int:
        return len(self.spans)

    def line(self, n: int) -> str:
        start, end = self.spans[n]
        return self.text[start:end]

    def blank(self, n: int) -> bool:
        return not self.line(n).strip()

    def indent(self, n: int) -> int:
        line = self.line(n).expandtabs(8)
        return len(line) - len(line.lstrip())

    def block(self, first: int, last: int, kind: BlockKind, level: int = 0, skip: int = 0) -> Block | None:
        """A block over lines first..last (inclusive), whitespace trimmed, the first `skip` characters of
        the first line's content (a list marker, heading hashes) left out; None when nothing is left."""
        first = max(first, 0)
        last = min(last, len(self.spans) - 1)
        if last < first:
            return None
        start, end = self.spans[first][0], self.spans[last][1]
        start = skip_space(self.text, start, end) + skip
        start, end = trim(self.text, start, end)
        return Block(start, end, kind, level) if end > start else None

    def block_span(self, start: int, end: int, kind: BlockKind, level: int = 0) -> Block | None:
        """A block over [start, end), whitespace trimmed; None when nothing is left."""
        start, end = trim(self.text, start, end)
        return Block(start, end, kind, level) if end > start else None


def skip_space(text: str, start: int, end: int) -> int:
    while start < end and text[start].isspace():
        start += 1
    return start


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) without surrounding whitespace."""
    start = skip_space(text, start, end)
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
