"""Sentence-aware chunks, measured in the model's own tokens, that are always raw spans of the file."""

from __future__ import annotations

from collections.abc import Callable
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
                cursor = r_start
                for piece in self.splitter.split_text(text[r_start:r_end]):
                    start = text.find(piece, cursor, r_end)
                    if start < 0:  # the splitter only strips and cuts, so this cannot happen
                        raise AssertionError("chunk text is not a raw span of the document")
                    end = start + len(piece)
                    inside = tuple(
                        (max(s, start), min(e, end))
                        for s, e in sentences
                        if s < end and e > start and _whole_words(text, max(s, start), min(e, end))
                    )
                    chunks.append(Chunk(start, end, piece, index, inside))
                    cursor = start + 1
        return chunks


def _whole_words(text: str, start: int, end: int) -> bool:
    """A clipped sentence piece is kept only if it starts and ends at word boundaries."""
    if end - start < 3:
        return False
    left_ok = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
    right_ok = end >= len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
    return left_ok and right_ok
