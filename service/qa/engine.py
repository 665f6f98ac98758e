"""The question-answering engine behind the API and the CLI: snapshot + retrieval + answering."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from verbatim.ingest.formats import CONVERTED_FORMATS
from verbatim.ingest.index.embedder import Encoder, load_encoder
from verbatim.ingest.index.lock import ingest_lock
from verbatim.ingest.index.store import IndexStore, IndexUnavailable
from verbatim.ingest.pipeline import Ingestor, IngestReport, Progress
from verbatim.ingest.reader import PathOutsideRoot, read_text_exact, source_name
from verbatim.ingest.uploads import UploadLog
from verbatim.service.qa import language
from verbatim.service.qa.chunks import StaleSnapshot
from verbatim.service.qa.errors import (
    BadRequest,
    IndexNotWritable,
    InvalidSpan,
    NotReady,
    SourceUnreadable,
    UnknownSource,
    UnknownSources,
)
from verbatim.service.qa.extractive import ABSTAIN_TEXT, HEDGE_TEXT, Extracted, ExtractiveAnswerer
from verbatim.service.qa.lexical_cache import cache_dir
from verbatim.service.qa.question import ParsedQuestion, parse
from verbatim.service.qa.retrieval import Hit, Mode, RetrievalConfig, Retriever
from verbatim.service.qa.schemas import (
    ArticleOut,
    AskResponse,
    Citation,
    Correction,
    DocumentList,
    DocumentResponse,
    DocumentSummary,
    Offsets,
    PageOut,
    Passage,
    SearchRequest,
    SearchResponse,
    SectionOut,
    Span,
)
from verbatim.service.qa.snapshot import Snapshot, SnapshotHolder
from verbatim.service.qa.text import STOPWORDS
from verbatim.service.qa.wordvectors import WordVectors
from verbatim.settings import Settings

log = logging.getLogger("verbatim.engine")
T = TypeVar("T")
WARM_UP_ENDED = "answerability warm-up ended"


__all__ = ["BadRequest", "Engine", "NotReady", "passage_of", "render_answer"]  # errors: older import path


def passage_of(hit: Hit) -> Passage:
    c = hit.chunk
    return Passage(
        chunk_id=c.chunk_id,
        source=c.source,
        title=c.title,
        section=list(c.section),
        page=c.page,
        start=c.start,
        end=c.end,
        text=c.text,
        score=round(hit.similarity, 4),
    )


def render_answer(extracted: Extracted) -> tuple[str, list[Citation]]:
    """“quote” [n] … — every quote verbatim, numbered in order (a hedged answer says so first)."""
    citations = [
        Citation(
            n=n,
            source=q.hit.chunk.source,
            title=q.hit.chunk.title,
            section=list(q.hit.chunk.section),
            page=q.hit.chunk.page,
            quote=q.text,
            start=q.start,
            end=q.end,
            highlights=[Offsets(start=s, end=e) for s, e in q.highlights],
            chunk_id=q.hit.chunk.chunk_id,
            score=round(q.score, 4),
        )
        for n, q in enumerate(extracted.quotes, start=1)
    ]
    text = " ".join(f"“{c.quote}” [{c.n}]" for c in citations)
    return (f"{HEDGE_TEXT} {text}" if extracted.hedged else text), citations


@dataclass(frozen=True)
class Retrieved:
    """What retrieval found for a question: the snapshot it read, the parsed question, hits, vector."""

    snapshot: Snapshot
    question: ParsedQuestion
    hits: list[Hit]
    vector: np.ndarray
    top_k: int = 5
    sources: list[str] | None = None


def cite_pages(snap: Snapshot, citations: list[Citation]) -> None:
    """Each citation's page is the page its quote starts on (a chunk may begin a page earlier)."""
    for citation in citations:
        record = snap.documents.get(citation.source)
        if record is not None and record.pages:
            citation.page = record.page_at(citation.start)


class Engine:
    """Owns the encoder, the store and the current snapshot; safe to call from many threads."""

    def __init__(
        self, settings: Settings, encoder: Encoder | None = None, store: IndexStore | None = None
    ) -> None:
        self.settings = settings
        self.store = store or IndexStore(settings)
        self._encoder = encoder
        self._ingest_encoder: Encoder | None = None
        location = settings.chroma_url or str((settings.data_dir / "chroma").resolve())
        self.snapshots = SnapshotHolder(
            self.store,
            settings.refresh_interval,
            chunk_cache=settings.chunk_cache,
            cache_path=cache_dir(settings.data_dir, location, settings.collection),
        )
        self.answerer = ExtractiveAnswerer(word_vectors=WordVectors(self._embed_words))
        self._retriever: Retriever | None = None
        self.startup_error: str | None = None
        self._ingest_lock = threading.Lock()
        self._warm_thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder(self.settings, threads=1, purpose="query")
        return self._encoder

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            config = RetrievalConfig.of(self.answerer.model)
            self._retriever = Retriever(self.store, self.encoder, config)
        return self._retriever

    @property
    def ingest_encoder(self) -> Encoder:
        """The ingest model (another runtime than the query model's, see `load_encoder`), loaded on the
        first ingest or upload and then kept: loading it costs seconds, which every later one-file change
        would otherwise pay before it could be served."""
        if self._ingest_encoder is None:
            self._ingest_encoder = load_encoder(self.settings, threads=2)
        return self._ingest_encoder

    def start(self, bootstrap: bool = True) -> None:
        """Load the model and the index; on an empty index ingest the corpus first (first start)."""
        try:
            self.encoder.embed(["warm up"])  # load the query model now, not on the first question
            if bootstrap:
                self._bootstrap()
            snap = self.snapshots.refresh(force=True)
            self.startup_error = None
            if snap is not None and self._warm_thread is None:
                self._stopping.clear()
                self._warm_thread = threading.Thread(
                    target=self._warm_answerability, args=(snap,), name="answerability-warm-up", daemon=True
                )
                self._warm_thread.start()
        except IndexUnavailable as exc:
            self.startup_error = str(exc)
            log.warning("index unreachable at start: %s", exc)
        finally:
            self.snapshots.start()

    def _embed_words(self, words: list[str]) -> np.ndarray:
        """Each word in a batch of its own. The int8 encoder quantises a batch's activations with one
        scale, so a word embedded beside others gets another vector (cosine 0.98 to itself alone), and
        answers would depend on what the cache happened to hold: on the order of earlier questions and
        on how far the warm-up had got. 1.4 ms a word here (0.4 in batches)."""
        if not words:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([self.encoder.embed([w]) for w in words])

    def _warm_answerability(self, snap: Snapshot, limit: int = 20_000) -> None:
        """Build the names lexicon and embed the index's most frequent words for answerability's soft
        matching, off the request path. Ends with one WARM_UP_ENDED log line whatever happens (the
        latency benchmark waits for it: until then the warm-up competes with requests for the CPU)."""
        started = time.perf_counter()
        n = 0
        try:
            language.warm_up()
            if self.answerer.word_vectors is not None:
                common = [w for w in snap.vocabulary.most_common(2 * limit) if w not in STOPWORDS]
                n = self.answerer.word_vectors.warm(common[:limit], should_stop=self._stopping.is_set)
        except Exception:  # a warm-up failure only costs latency later; never take the engine down
            log.exception("word-vector warm-up failed")
        log.info("%s: %s word vectors embedded in %.1f s", WARM_UP_ENDED, n, time.perf_counter() - started)

    def start_in_background(self, bootstrap: bool = True) -> threading.Thread:
        thread = threading.Thread(target=self.start, args=(bootstrap,), name="engine-start", daemon=True)
        thread.start()
        return thread

    def _bootstrap(self) -> None:
        if self.store.manifest():
            return
        corpus = self.settings.corpus_dir
        if corpus.is_dir():
            log.info("empty index: ingesting %s", corpus)
            self.ingest(None, wait=600.0)

    def wait_for_warm_up(self, timeout: float | None = None) -> bool:
        """Block until the warm-up that start() began has ended (benchmarks measure after it); True if it
        has, or if start() began none (no index yet)."""
        thread = self._warm_thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def stop(self) -> None:
        self.snapshots.stop()
        # The warm-up runs the model in native code: a process must not exit under it (it aborts).
        self._stopping.set()
        self.wait_for_warm_up(timeout=30)
        self._warm_thread = None

    def snapshot(self) -> Snapshot:
        snap = self.snapshots.current
        if snap is None:
            if self.snapshots.last_error or self.startup_error:
                raise NotReady(self.snapshots.last_error or self.startup_error or "index unavailable")
            raise NotReady("the index is still loading (first start ingests the corpus); retry shortly")
        return snap

    # -- queries ----------------------------------------------------------------------------------
    def _check_sources(self, snap: Snapshot, sources: list[str] | None) -> list[str] | None:
        if not sources:
            return None
        unknown = [s for s in sources if s not in snap.documents]
        if unknown:
            raise UnknownSources(f"unknown source(s): {', '.join(sorted(unknown)[:10])}")
        return list(dict.fromkeys(sources))

    def parse(self, snap: Snapshot, question: str) -> ParsedQuestion:
        """The question parsed once against this snapshot's vocabulary (spelling) and the model's
        language; a common English word (one the model's tokenizer holds whole) is never "corrected"."""
        foreign = language.foreign_language(question, snap.vocabulary)
        if foreign is not None:
            return parse(question, language=foreign)
        return parse(question, snap.vocabulary, self._is_common_word)

    def _is_common_word(self, word: str) -> bool:
        return self.encoder.count_tokens(word) <= 3  # [CLS] word [SEP]

    def retrieve(
        self, question: str, top_k: int, sources: list[str] | None, mode: Mode = "hybrid"
    ) -> Retrieved:
        """Parse, embed and search a question (nothing is searched for a question in another language)."""
        return self._fresh(lambda: self._retrieve(question, top_k, sources, mode))

    def _retrieve(self, question: str, top_k: int, sources: list[str] | None, mode: Mode) -> Retrieved:
        snap = self.snapshot()
        wanted = self._check_sources(snap, sources)
        parsed = self.parse(snap, question)
        if parsed.language is not None:
            return Retrieved(snap, parsed, [], np.zeros(0, dtype=np.float32), top_k, sources)
        vector = self.retriever.embed_query(parsed)
        hits = self.retriever.search(snap, parsed, vector, top_k, wanted, mode)
        return Retrieved(snap, parsed, hits, vector, top_k, sources)

    def _retrieve_and_answer(
        self, question: str, top_k: int, sources: list[str] | None
    ) -> tuple[Retrieved, Extracted]:
        """Retrieval and the extractive answer on one snapshot (a retry after a stale one)."""
        found = self._retrieve(question, top_k, sources, "hybrid")
        return found, self.answerer.answer(found.snapshot, found.question, found.vector, found.hits)

    def _fresh(self, work: Callable[[], T], attempts: int = 3) -> T:
        """Run `work` on the current snapshot; when a newer index version has replaced chunks it read,
        load that version and run it again, so an answer never mixes two versions."""
        for _ in range(attempts - 1):
            try:
                return work()
            except StaleSnapshot as exc:
                log.info("%s: answering again on the new version", exc)
                self.snapshots.refresh()
        try:
            return work()
        except StaleSnapshot as exc:
            raise NotReady(f"the index is changing fast ({exc}); retry shortly") from exc

    def search(self, request: SearchRequest) -> SearchResponse:
        found = self.retrieve(request.query, request.top_k, request.sources)
        return SearchResponse(results=[passage_of(h) for h in found.hits])

    def answer_extractive(self, found: Retrieved, retrieve_s: float = 0.0) -> AskResponse:
        """The extractive answer from already retrieved hits (also the model backends' fallback)."""
        t1 = time.perf_counter()
        parsed = found.question
        if parsed.language is not None:
            extracted = Extracted([], True, 0.0, abstain_text=language.message(parsed.language))
        else:
            try:
                extracted = self.answerer.answer(found.snapshot, parsed, found.vector, found.hits)
            except StaleSnapshot:  # e.g. a byline chunk replaced meanwhile: answer on the new version
                asked = (parsed.text, found.top_k, found.sources)
                found, extracted = self._fresh(lambda: self._retrieve_and_answer(*asked))
        t2 = time.perf_counter()
        answer, citations = render_answer(extracted)
        cite_pages(found.snapshot, citations)
        return AskResponse(
            answer=(extracted.abstain_text or ABSTAIN_TEXT) if extracted.abstained else answer,
            abstained=extracted.abstained,
            hedged=extracted.hedged and not extracted.abstained,
            backend="extractive",
            citations=citations,
            passages=[passage_of(h) for h in found.hits],
            confidence=round(extracted.confidence, 4),
            corrections=[Correction(**{"from": c.typed, "to": c.corrected}) for c in parsed.corrections],
            timings_ms={
                "retrieve": round(retrieve_s * 1000, 2),
                "answer": round((t2 - t1) * 1000, 2),
                "total": round((retrieve_s + t2 - t1) * 1000, 2),
            },
        )

    # -- documents --------------------------------------------------------------------------------
    def documents(self) -> DocumentList:
        snap = self.snapshot()
        return DocumentList(
            documents=[
                DocumentSummary(
                    source=d.source,
                    chunks=d.chunks,
                    chars=d.chars,
                    articles=[ArticleOut(**a.__dict__) for a in d.articles],
                )
                for d in sorted(snap.documents.values(), key=lambda d: d.source)
            ]
        )

    def document(self, source: str, start: int | None = None, end: int | None = None) -> DocumentResponse:
        """An indexed document's text; only sources in the index can be read (no path is ever opened raw)."""
        snap = self.snapshot()
        record = snap.documents.get(source)
        if record is None:
            raise UnknownSource(f"unknown source: {source!r}")
        root = self.settings.corpus_dir
        path = root / record.source
        if record.format in CONVERTED_FORMATS:
            # The extracted text offsets point into, as stored at ingest (the file itself is PDF/HTML/DOCX).
            stored = self.store.get_text(record.sha256, record.pipeline)
            if stored is None:
                raise SourceUnreadable(
                    f"source {source!r} is indexed but its extracted text is missing; ingest it again"
                )
            text = stored
        else:
            try:
                if source_name(path, root) != record.source:
                    raise UnknownSource(f"unknown source: {source!r}")
                text = read_text_exact(path)
            except (PathOutsideRoot, OSError, UnicodeDecodeError) as exc:
                raise SourceUnreadable(f"source {source!r} is indexed but cannot be read: {exc}") from exc
        span = None
        if start is not None or end is not None:
            s = 0 if start is None else start
            e = len(text) if end is None else end
            if not (0 <= s < e <= len(text)):
                raise InvalidSpan(f"span [{s}, {e}) is not inside the document (length {len(text)})")
            span = Span(start=s, end=e, text=text[s:e])
        return DocumentResponse(
            source=record.source,
            format=record.format,
            text=text,
            span=span,
            articles=[ArticleOut(**a.__dict__) for a in record.articles],
            sections=[SectionOut(**s.__dict__) for s in record.sections],
            pages=[PageOut(**p.__dict__) for p in record.pages],
        )

    # -- ingestion --------------------------------------------------------------------------------
    def ingest(
        self,
        paths: list[Path] | None,
        *,
        dry_run: bool = False,
        wait: float = 0.0,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest in this process (the server owns the embedded store), then load the new version."""
        try:
            with self._ingest_lock:
                ingestor = Ingestor(self.settings, self.ingest_encoder, self.store)
                report = ingestor.run(paths, dry_run=dry_run, wait=wait, progress=progress)
        except OSError as exc:  # a read-only or full data dir: say so (missing files are the caller's)
            if isinstance(exc, FileNotFoundError):
                raise
            raise IndexNotWritable.of(exc) from exc
        if not dry_run:
            self.snapshots.refresh()
        return report

    @property
    def uploads(self) -> UploadLog:
        """Which sources arrived by upload (their files are deleted with them)."""
        return UploadLog(self.settings.data_dir)

    def delete_document(self, source: str, wait: float = 60.0) -> bool:
        """Remove a document from the index (and its file, if it was uploaded); True if the file went.
        Under the ingest lock, so it never interleaves with an ingest of the same data dir."""
        with self._ingest_lock, ingest_lock(self.settings.data_dir, wait=wait):
            if source not in self.store.manifest():
                raise UnknownSource(f"unknown source: {source!r}")
            self.store.forget_document(source)
            self.store.sweep({}, [source])
            self.store.bump_version([source])
        deleted = False
        if source in self.uploads:
            path = self.settings.corpus_dir / source
            try:
                if source_name(path, self.settings.corpus_dir) == source and path.is_file():
                    path.unlink()
                    deleted = True
            except (PathOutsideRoot, OSError) as exc:
                log.warning("could not delete uploaded file %s: %s", source, exc)
            self.uploads.discard(source)
        self.snapshots.refresh()
        return deleted
