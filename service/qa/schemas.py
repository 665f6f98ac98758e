"""Request and response models of the HTTP API (the shapes of ../shared/DESIGN.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
)

MAX_QUESTION_CHARS = 2000


def _trimmed_question(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or only whitespace")
    if len(value) > MAX_QUESTION_CHARS:
        raise ValueError(f"must be at most {MAX_QUESTION_CHARS} characters after trimming (got {len(value)})")
    return value


def _integral(value: object) -> object:
    """JSON Schema counts 5.0 as an integer: take it as 5 (strings, booleans and fractions stay errors)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


TopK = Annotated[StrictInt, BeforeValidator(_integral)]


class AskRequest(BaseModel):
    """A question; `sources` restricts retrieval to some files; `backend` picks extractive or the model."""

    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(description="1–2000 characters after trimming")
    top_k: TopK = Field(default=5, ge=1, le=20)
    sources: list[StrictStr] | None = Field(default=None, max_length=1000)
    backend: Literal["extractive", "llm"] | None = None
    stream: StrictBool = False

    _check_question = field_validator("question")(_trimmed_question)


class SearchRequest(BaseModel):
    """A retrieval-only query."""

    model_config = ConfigDict(extra="forbid")

    query: StrictStr = Field(description="1–2000 characters after trimming")
    top_k: TopK = Field(default=5, ge=1, le=20)
    sources: list[StrictStr] | None = Field(default=None, max_length=1000)

    _check_query = field_validator("query")(_trimmed_question)


class Offsets(BaseModel):
    """A span of the document text: [start, end)."""

    start: int
    end: int


class Passage(BaseModel):
    """A retrieved chunk: `text == document_text[start:end]`; `score`: cosine similarity to the question."""

    chunk_id: str
    source: str
    title: str
    section: list[str] = Field(default_factory=list, description="heading path from the document title down")
    page: int | None = Field(default=None, description="1-based page where the span starts (PDF), else null")
    start: int
    end: int
    text: str
    score: float


class Citation(BaseModel):
    """A verbatim quote: `quote == file[start:end]`, inside the passage `chunk_id`."""

    n: int
    source: str
    title: str
    section: list[str] = Field(default_factory=list, description="heading path from the document title down")
    page: int | None = Field(default=None, description="1-based page where the quote starts (PDF), else null")
    quote: str
    start: int
    end: int
    highlights: list[Offsets] = Field(
        default_factory=list, description="the asked-for value inside the quote (offsets into the document)"
    )
    chunk_id: str
    score: float


class Correction(BaseModel):
    """A word of the question read as another word of the corpus (a likely misspelling)."""

    from_: str = Field(alias="from", serialization_alias="from")
    to: str

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class AskResponse(BaseModel):
    """An answer made of cited quotes, or an abstention with the closest passages."""

    answer: str
    abstained: bool
    hedged: bool = Field(
        default=False, description="the best evidence is quoted, but the documents may not state it exactly"
    )
    backend: Literal["extractive", "llm"]
    citations: list[Citation]
    passages: list[Passage]
    timings_ms: dict[str, float]
    confidence: float | None = Field(
        default=None, description="probability the documents answer (extractive)"
    )
    corrections: list[Correction] = Field(default_factory=list)
    warning: str | None = None
    dropped_quotes: int | None = None


class SearchResponse(BaseModel):
    results: list[Passage]


class ArticleOut(BaseModel):
    title: str
    author: str | None
    date: str | None = None
    start: int
    end: int


class Span(BaseModel):
    start: int
    end: int
    text: str


class SectionOut(BaseModel):
    path: list[str]
    start: int
    end: int


class PageOut(BaseModel):
    page: int
    start: int
    end: int


class DocumentResponse(BaseModel):
    """A document's text (the file itself, or the text extracted from it), its articles, sections and
    pages; `span` when start/end were asked for."""

    source: str
    format: str = "text"
    articles: list[ArticleOut]
    sections: list[SectionOut] = Field(default_factory=list)
    pages: list[PageOut] = Field(default_factory=list)
    text: str
    span: Span | None = None


class DocumentSummary(BaseModel):
    source: str
    articles: list[ArticleOut]
    chunks: int
    chars: int


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class IngestRequest(BaseModel):
    """Paths inside the corpus root (default: all of it)."""

    model_config = ConfigDict(extra="forbid")

    paths: list[StrictStr] | None = None
    dry_run: StrictBool = False


class Readiness(BaseModel):
    status: str
    chunks: int
    index_version: int
    documents: int
