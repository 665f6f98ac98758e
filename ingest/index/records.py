"""The records both sides share: what ingest writes and answering reads (chunks, documents, articles).

Stored as Chroma metadata; new fields have defaults so an index written by an older version still loads
(its chunks then have no section path and no page until the next ingest re-indexes them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ArticleInfo:
    """An article's place in its document."""

    title: str
    author: str | None
    date: str | None
    start: int
    end: int


@dataclass
class SectionInfo:
    """A section of a document: its heading path and span (for `GET /documents/{source}`)."""

    path: list[str]
    start: int
    end: int


@dataclass
class PageInfo:
    """A page of a paginated document: its 1-based number and span of the document text."""

    page: int
    start: int
    end: int


@dataclass
class DocumentRecord:
    """The manifest entry of one indexed document (the commit point of its chunks)."""

    source: str
    sha256: str
    pipeline: str
    chunks: int
    chars: int
    articles: list[ArticleInfo]
    dropped: dict[str, int]
    ingested_at: float = field(default_factory=time.time)
    format: str = "text"
    sections: list[SectionInfo] = field(default_factory=list)
    pages: list[PageInfo] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page where `offset` lies (the page before it when it falls between pages), or
        None for unpaginated formats."""
        found = None
        for page in self.pages:
            if page.start > offset:
                break
            found = page.page
        return found if found is not None or not self.pages else self.pages[0].page

    def to_metadata(self) -> dict[str, Any]:
        return {
            "kind": "document",
            "source": self.source,
            "sha256": self.sha256,
            "pipeline": self.pipeline,
            "chunks": self.chunks,
            "chars": self.chars,
            "ingested_at": self.ingested_at,
            "articles": json.dumps([a.__dict__ for a in self.articles], ensure_ascii=False),
            "dropped": json.dumps(self.dropped),
            "format": self.format,
            "sections": json.dumps([s.__dict__ for s in self.sections], ensure_ascii=False),
            "pages": json.dumps([p.__dict__ for p in self.pages]),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> DocumentRecord:
        return cls(
            source=str(meta["source"]),
            sha256=str(meta["sha256"]),
            pipeline=str(meta["pipeline"]),
            chunks=int(meta["chunks"]),
            chars=int(meta["chars"]),
            articles=[ArticleInfo(**a) for a in json.loads(str(meta["articles"]))],
            dropped=json.loads(str(meta["dropped"])),
            ingested_at=float(meta["ingested_at"]),
            format=str(meta.get("format", "text")),
            sections=[SectionInfo(**s) for s in json.loads(str(meta.get("sections") or "[]"))],
            pages=[PageInfo(**p) for p in json.loads(str(meta.get("pages") or "[]"))],
        )


@dataclass
class ChunkRecord:
    """A stored chunk: a raw span with its article, vector and sentence spans and vectors."""

    chunk_id: str
    source: str
    sha256: str
    title: str
    author: str | None
    date: str | None
    start: int
    end: int
    text: str
    vector: np.ndarray
    sentences: list[tuple[int, int]]
    sentence_vectors: np.ndarray
    section: tuple[str, ...] = ()  # heading path from the document title down to this chunk
    page: int | None = None  # 1-based page where the chunk starts (paginated formats)
    pipeline: str = ""  # fingerprint of the pipeline that made it: a re-read file owns only its new chunks

    def to_metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "kind": "chunk",
            "source": self.source,
            "sha256": self.sha256,
            "title": self.title,
            "start": self.start,
            "end": self.end,
            "content_hash": _short_hash(self.text),
            "sentences": ";".join(f"{s - self.start}:{e - self.start}" for s, e in self.sentences),
            "sentence_vectors": encode_vectors(self.sentence_vectors),
        }
        if self.author:
            meta["author"] = self.author
        if self.date:
            meta["date"] = self.date
        if self.section:
            meta["section"] = json.dumps(list(self.section), ensure_ascii=False)
        if self.page is not None:
            meta["page"] = self.page
        if self.pipeline:
            meta["pipeline"] = self.pipeline
        return meta

    @classmethod
    def from_stored(
        cls, chunk_id: str, text: str, meta: dict[str, Any], vector: Sequence[float]
    ) -> ChunkRecord:
        start = int(meta["start"])
        sentences = [
            (start + int(s), start + int(e))
            for s, e in (pair.split(":") for pair in str(meta.get("sentences", "")).split(";") if pair)
        ]
        return cls(
            chunk_id=chunk_id,
            source=str(meta["source"]),
            sha256=str(meta["sha256"]),
            title=str(meta["title"]),
            author=meta.get("author"),
            date=meta.get("date"),
            start=start,
            end=int(meta["end"]),
            text=text,
            vector=np.asarray(vector, dtype=np.float32),
            sentences=sentences,
            sentence_vectors=decode_vectors(
                str(meta.get("sentence_vectors", "")), len(sentences), len(vector)
            ),
            section=tuple(json.loads(str(meta["section"]))) if meta.get("section") else (),
            page=int(meta["page"]) if meta.get("page") is not None else None,
            pipeline=str(meta.get("pipeline", "")),
        )


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def encode_vectors(vectors: np.ndarray) -> str:
    """Unit vectors as int8 (scale 127) in base64: sentence vectors ride along in chunk metadata."""
    if vectors.size == 0:
        return ""
    return base64.b64encode(np.clip(np.round(vectors * 127), -127, 127).astype(np.int8).tobytes()).decode()


def decode_vectors(data: str, rows: int, dim: int) -> np.ndarray:
    """Inverse of `encode_vectors`, renormalised."""
    if not data or rows == 0:
        return np.zeros((0, dim), dtype=np.float32)
    raw = np.frombuffer(base64.b64decode(data), dtype=np.int8).astype(np.float32).reshape(rows, dim)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return raw / np.where(norms > 0, norms, 1)


def chunk_id_for(source: str, sha256: str, start: int, end: int, pipeline: str = "") -> str:
    """Ids depend on the file's content and on the pipeline that read it, so a new version (of the file,
    or of how it is read) never overwrites the one being served."""
    return _short_hash(f"{source}\x00{sha256}\x00{start}\x00{end}\x00{pipeline}")


def owns(record: DocumentRecord, meta: dict[str, Any]) -> bool:
    """Whether a stored chunk (or extracted text) belongs to the committed version of its document: the
    same file content read by the same pipeline. Leftovers of an older pipeline are not served."""
    return record.sha256 == meta.get("sha256") and record.pipeline == meta.get("pipeline")
