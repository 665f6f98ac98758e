"""Questions about who wrote an article ("Who wrote the piece on Baku's reconciliation with Moscow?").

The answer is not in any sentence about the topic but in the article's byline, which the segmenter
found at ingestion (`ChunkRecord.author`). So such a question is searched and judged by its topic (the
words after "the article on …"), the byline passage of the article found is kept among the retrieved
passages, and the answer quotes the byline verbatim. An article without a byline gets an abstention
that says so; a topic the documents do not cover abstains as any other question would.
"""

from __future__ import annotations

import re

from verbatim.ingest.index.records import ChunkRecord
from verbatim.ingest.segmenter import classify
from verbatim.service.qa.snapshot import Snapshot

# What a written piece is called; "report", "book", "letter" or "statement" are left out: in news text
# they are usually things the article reports on ("Who wrote the letter to Putin?"), not the article.
_PIECE = (
    r"(?:article|piece|analysis|essay|commentary|op-?ed|column|story|opinion(?: piece)?|write-?up|teaser)"
)
_ASKS_AUTHOR = re.compile(
    rf"^\s*(?:who\s+(?:wrote|authored|penned|is\s+the\s+(?:author|writer)\s+of|was\s+the\s+(?:author|writer)\s+of)"
    rf"\s+(?:the|this|that|an?)\s+(?:[\w’'-]+\s+){{0,3}}?{_PIECE}\b(?P<rest>.*)"
    rf"|whose\s+(?:[\w’'-]+\s+){{0,2}}?{_PIECE}\b(?P<rest2>.*)"
    rf"|by\s+whom\s+was\s+(?:the|this|that|an?)\s+(?:[\w’'-]+\s+){{0,3}}?{_PIECE}\b(?P<rest3>.*?)\s+written\b.*)$",
    re.IGNORECASE,
)
# What links the piece to its topic: "the article on …", "the piece that opens with …", "whose essay argues".
_LINK = re.compile(
    r"^\s*(?:,\s*)?(?:on|about|of|that|which|discussing|covering|titled|called|named|entitled|is|was|"
    r"argues|argued|says|said|explains|explained|describes|described|examines|examined|asks|asked)\b\s*",
    re.IGNORECASE,
)


def authorship_topic(question: str) -> str | None:
    """The topic of a question asking who wrote an article, or None for any other question (also for
    "Who wrote this article?", which names no topic to find the article by)."""
    m = _ASKS_AUTHOR.match(question.strip())
    if m is None:
        return None
    rest = next(g for g in (m.group("rest"), m.group("rest2"), m.group("rest3")) if g is not None)
    topic = _LINK.sub("", rest, count=1).strip().rstrip("?").strip()
    return topic or None


def searched_text(question: str) -> str:
    """What retrieval and answering read for a question: the topic of an authorship question, else itself."""
    return authorship_topic(question) or question


def byline_span(snapshot: Snapshot, chunk: ChunkRecord) -> tuple[str, int, int] | None:
    """The byline of the article `chunk` belongs to: the id of the chunk holding it and its span in
    the raw file, or None when the article has no author. The same for every question, so found once
    per article (and file version)."""
    if not chunk.author:
        return None
    key = (chunk.source, chunk.sha256, chunk.title, chunk.author)
    return snapshot.memo(
        "byline", key, lambda: _find_byline(snapshot, chunk.source, chunk.title, chunk.author or "")
    )


def _find_byline(snapshot: Snapshot, source: str, title: str, author: str) -> tuple[str, int, int] | None:
    """The first sentence of the article that is a byline naming its author; failing that, the first
    place the article's text names the author (a byline run into other text)."""
    chunks = [c for c in snapshot.document_chunks(source) if c.title == title and c.author == author]
    for c in chunks:
        for start, end in c.sentences:
            sentence = c.text[start - c.start : end - c.start]
            if author in sentence and classify(sentence) == "byline":
                return c.chunk_id, start, end
    for c in chunks:
        at = c.text.find(author)
        if at >= 0:
            return c.chunk_id, c.start + at, c.start + at + len(author)
    return None
