"""Sentence-aware chunks, measured in the model's own tokens, that are always raw spans of the file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from verbatim.ingest.cleaner import CleanResult
from verbatim.ingest.segmenter import Article
from verbatim.ingest.sentences import sentence_spans

# Paragraphs, then lines, then sentence ends, then clauses, then words: never inside a word.
SEPARATORS = ["\n\n", "\n", r"(?<=[.!?…])[\"'”’)]?\s+", r"(?<=[;:])\s+", r"(?<=,)\s+", r"\s+"]
TITLE_TOKEN_BUDGET = 32


@dataclass(frozen=True)
class Chunk:
    """A contiguous raw span inside one article and one kept region, with its sentences."""

    start: int
    end: int
    text: str
    article: int
    sentences: tuple[tuple[int, int], ...]  # absolute offsets, each inside [start, end]


def kept_regions(clean: CleanResult, start: int, end: int) -> list[tuple[int, int]]:
    """Maximal runs of kept pieces inside [start, end] separated only by whitespace (no dropped span)."""
    regions: list[tuple[int, int]] = []
    for s, e in clean.kept:
        if s < start or e > end:
            continue
        if regions and not clean.text[regions[-1][1] : s].strip():
            regions[-1] = (regions[-1][0], e)
        else:
            regions.append((s, e))
    return regions


def embedding_input(title: str, chunk_text: str) -> tuple[str, int]:
    """What the model reads for a chunk (its article title, then the text) and where the text begins."""
    prefix = f"{title}\n\n"
    return prefix + chunk_text, len(prefix)


def truncate_title(title: str, count_tokens: Callable[[str], int]) -> str:
    """Titles longer than the budget are cut at a word so every chunk keeps room for its text."""
    words = title.split()
    while words and count_tokens(" ".join(words)) - 2 > TITLE_TOKEN_BUDGET:
        words.pop()
    return " ".join(words)


class Chunker:
    """Split articles into overlapping, sentence-aligned chunks that fit the model without truncation."""

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        max_seq_length: int,
        chunk_tokens: int = 200,
        overlap_tokens: int = 32,
    ) -> None:
        # The model adds [CLS] and [SEP]; the title prefix takes at most TITLE_TOKEN_BUDGET (+1 for "\n\n").
        budget = max_seq_length - 2 - TITLE_TOKEN_BUDGET - 1
        self.chunk_tokens = min(chunk_tokens, budget)
        self.count_tokens = count_tokens
        self.splitter = RecursiveCharacterTextSplitter(
            separators=SEPARATORS,
            is_separator_regex=True,
            keep_separator="end",
            chunk_size=self.chunk_tokens,
            chunk_overlap=min(overlap_tokens, self.chunk_tokens // 4),
            length_function=self._text_tokens,
            strip_whitespace=True,
        )

    def _text_tokens(self, text: str) -> int:
        return self.count_tokens(text) - 2  # without [CLS]/[SEP]

    def chunk(self, clean: CleanResult, articles: list[Article]) -> list[Chunk]:
        """All chunks of a document, in order."""
        text = clean.text
        chunks: list[Chunk] = []
        for index, article in enumerate(articles):
            for r_start, r_end in kept_regions(clean, article.start, article.end):
                sentences = sentence_spans(text, r_start, r_end)
                chunks += split_span(self, text, r_start, r_end, sentences, index)
        return chunks


def _whole_words(text: str, start: int, end: int) -> bool:
    """A clipped sentence piece is kept only if it starts and ends at word boundaries."""
    if end - start < 3:
        return False
    left_ok = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
    right_ok = end >= len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
    return left_ok and right_ok


SECTION_SEPARATOR = " › "
_OWN_UNIT = frozenset({"heading", "table_row"})  # quoted whole, never split into sentences
_PROSE = frozenset({"paragraph", "list_item", "other"})


@dataclass(frozen=True)
class Unit:
    """A kept block of a structured document, with its section path and size in model tokens."""

    start: int
    end: int
    kind: str
    section: tuple[str, ...]
    tokens: int


def unit_sentences(text: str, unit: Unit) -> list[tuple[int, int]]:
    """Quotable spans of a unit: sentences of prose (a hard wrap is not a boundary), a heading or a table
    row whole, nothing for code."""
    if unit.kind in _OWN_UNIT:
        return [(unit.start, unit.end)]
    if unit.kind in _PROSE:
        return sentence_spans(text, unit.start, unit.end, line_breaks=False)
    return []


def section_title(section: tuple[str, ...], count_tokens: Callable[[str], int]) -> str:
    """A chunk's title: its section path joined, cut to the title budget."""
    return truncate_title(SECTION_SEPARATOR.join(section), count_tokens)


class StructuredChunker:
    """Chunks of a structured document: runs of whole blocks of one section, packed up to the budget.

    A chunk never straddles two sections or a dropped span; a block larger than the budget is split
    like text without structure (paragraphs, lines, sentence ends, clauses, words)."""

    def __init__(self, chunker: Chunker) -> None:
        self.chunker = chunker

    def chunk(self, text: str, groups: list[list[Unit]]) -> list[tuple[Chunk, tuple[str, ...]]]:
        out: list[tuple[Chunk, tuple[str, ...]]] = []
        budget = self.chunker.chunk_tokens
        overlap = self.chunker.splitter._chunk_overlap
        for group in groups:
            i = 0
            while i < len(group):
                if group[i].tokens > budget:
                    out += [(c, group[i].section) for c in self._split(text, group[i])]
                    i += 1
                    continue
                # Count what the chunk really holds: the units and the text between them (table borders
                # and other markup that belongs to no block still reach the model).
                j, used = i + 1, group[i].tokens
                while j < len(group) and group[j].tokens <= budget:
                    added = self.chunker._text_tokens(text[group[j - 1].end : group[j].end])
                    if used + added > budget:
                        break
                    used += added
                    j += 1
                units = group[i:j]
                sentences = tuple(s for u in units for s in unit_sentences(text, u))
                start, end = units[0].start, units[-1].end
                out.append((Chunk(start, end, text[start:end], 0, sentences), group[i].section))
                # Overlap: the next chunk repeats this one's last block when that block is small.
                small = j - 1 > i and j < len(group) and units[-1].tokens <= overlap
                i = j - 1 if small and units[-1].tokens + group[j].tokens <= budget else j
        return out

    def _split(self, text: str, unit: Unit) -> list[Chunk]:
        return split_span(self.chunker, text, unit.start, unit.end, unit_sentences(text, unit), 0)


def split_span(
    chunker: Chunker,
    text: str,
    start: int,
    end: int,
    sentences: Sequence[tuple[int, int]],
    article: int,
) -> list[Chunk]:
    """Pieces of text[start:end] that fit the model, each a raw span with the (clipped) sentences in it."""
    chunks = []
    cursor = start
    for piece in _fitting(chunker, text[start:end]):
        at = text.find(piece, cursor, end)
        if at < 0:  # the splitter only strips and cuts, so this cannot happen
            raise AssertionError("chunk text is not a raw span of the document")
        stop = at + len(piece)
        inside = tuple(
            (max(s, at), min(e, stop))
            for s, e in sentences
            if s < stop and e > at and _whole_words(text, max(s, at), min(e, stop))
        )
        chunks.append(Chunk(at, stop, piece, article, inside))
        cursor = at + 1
    return chunks


def _fitting(chunker: Chunker, text: str) -> list[str]:
    """The splitter's pieces, with any piece still over the budget (a run with no whitespace, such as a
    long table border or URL) cut at characters: every chunk must fit the model, which refuses to
    truncate."""
    out: list[str] = []
    for piece in chunker.splitter.split_text(text):
        while chunker._text_tokens(piece) > chunker.chunk_tokens:
            cut = _longest_fitting_prefix(chunker, piece)
            out.append(piece[:cut])
            piece = piece[cut:].lstrip()
        if piece:
            out.append(piece)
    return out


def _longest_fitting_prefix(chunker: Chunker, piece: str) -> int:
    low, high = 1, len(piece)
    while low < high:
        mid = (low + high + 1) // 2
        if chunker._text_tokens(piece[:mid]) <= chunker.chunk_tokens:
            low = mid
        else:
            high = mid - 1
    return low
