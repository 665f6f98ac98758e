"""The ingest pipeline: discover → read → clean → segment → chunk → embed → store, incrementally."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from verbatim.ingest.chunker import (
    SECTION_SEPARATOR,
    Chunk,
    Chunker,
    StructuredChunker,
    embedding_input,
    truncate_title,
)
from verbatim.ingest.cleaner import CleanResult, clean
from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats import CONVERTED_FORMATS, is_converted, read_document
from verbatim.ingest.formats.limits import ReadLimits
from verbatim.ingest.index.embedder import Encoder
from verbatim.ingest.index.lock import ingest_lock
from verbatim.ingest.index.records import (
    ArticleInfo,
    ChunkRecord,
    DocumentRecord,
    PageInfo,
    SectionInfo,
    chunk_id_for,
)
from verbatim.ingest.index.store import IndexStore
from verbatim.ingest.reader import ReadProblem, discover, source_name
from verbatim.ingest.sections import block_sections, section_spans, unit_groups
from verbatim.ingest.segmenter import Article, segment
from verbatim.settings import Settings

PIPELINE_VERSION = "8"  # bump when reading, cleaning, segmenting or chunking rules change: forces re-indexing
EMBED_BATCH_CHUNKS = 256
_EMPTY = np.zeros((0,), dtype=np.float32)

Progress = Callable[[str, int, int], None]  # (source, done, total)


@dataclass
class PreparedDocument:
    """A document after cleaning, segmentation and chunking, before embedding."""

    doc: ParsedDocument
    clean: CleanResult
    articles: list[Article]
    chunks: list[ChunkRecord]
    sections: list[SectionInfo] = field(default_factory=list)


@dataclass
class IngestReport:
    """What an ingest did (printed as the CLI summary and returned by the API)."""

    documents: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    articles: int = 0
    chunks: int = 0
    embedded_chunks: int = 0
    dropped_spans: int = 0
    dropped_chars: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)  # every file seen: source, outcome, reason
    per_document: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0
    index_version: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        dropped = ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped_chars.items())) or "none"
        lines = [
            f"documents: {self.documents} ({self.indexed} indexed, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.skipped)} skipped)",
            f"articles: {self.articles}",
            f"chunks: {self.chunks} ({self.embedded_chunks} embedded this run)",
            f"skipped spans: {self.dropped_spans} (characters dropped by rule: {dropped})",
            f"seconds: {self.seconds:.2f}",
        ]
        lines += [f"skipped {s['source']}: {s['reason']}" for s in self.skipped]
        return "\n".join(lines)


def pipeline_fingerprint(encoder: Encoder, chunker: Chunker) -> str:
    """Changes whenever re-embedding is needed: model, runtime, chunk sizes or the cleaning rules."""
    parts = (
        f"{PIPELINE_VERSION}|{encoder.fingerprint}|{chunker.chunk_tokens}|{chunker.splitter._chunk_overlap}"
    )
    return hashlib.sha256(parts.encode()).hexdigest()[:16]


class Ingestor:
    """Incremental, crash-safe indexing of files under the corpus root."""

    def __init__(
        self,
        settings: Settings,
        encoder: Encoder,
        store: IndexStore,
        chunk_tokens: int = 200,
        overlap_tokens: int = 32,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.store = store
        self.chunker = Chunker(encoder.count_tokens, encoder.max_seq_length, chunk_tokens, overlap_tokens)
        self.pipeline = pipeline_fingerprint(encoder, self.chunker)

    def prepare(self, doc: ParsedDocument) -> PreparedDocument:
        """Clean, segment and chunk one document (no model call)."""
        if doc.blocks:
            return self._prepare_structured(doc)
        cleaned = clean(doc.text)
        articles = segment(cleaned)
        titles = [truncate_title(a.title, self.encoder.count_tokens) for a in articles]
        records = []
        for chunk in self.chunker.chunk(cleaned, articles):
            article = articles[chunk.article]
            title = titles[chunk.article] or article.title
            records.append(self._record(doc, chunk, article, title, (article.title,)))
        return PreparedDocument(doc, cleaned, articles, records)

    def _prepare_structured(self, doc: ParsedDocument) -> PreparedDocument:
        """A document with structure: one article (the document), chunks of whole blocks of one section,
        each titled by its section path."""
        cleaned = clean(doc.text, doc.blocks)
        paths = block_sections(doc)
        groups = unit_groups(doc, cleaned, paths, self.encoder.count_tokens)
        title = doc.title or doc.path.stem
        kept = [u for g in groups for u in g]
        start, end = (kept[0].start, kept[-1].end) if kept else (0, 0)
        article = Article(title, doc.meta.get("author"), doc.meta.get("date"), start, end)
        records = []
        for chunk, section in StructuredChunker(self.chunker).chunk(doc.text, groups):
            shown = truncate_title(SECTION_SEPARATOR.join(section), self.encoder.count_tokens) or title
            records.append(self._record(doc, chunk, article, shown, section))
        sections = [SectionInfo(list(p), s, e) for p, s, e in section_spans(doc, paths)]
        return PreparedDocument(doc, cleaned, [article] if kept else [], records, sections)

    def _record(
        self, doc: ParsedDocument, chunk: Chunk, article: Article, title: str, section: tuple[str, ...]
    ) -> ChunkRecord:
        return ChunkRecord(
            chunk_id=chunk_id_for(doc.source, doc.sha256, chunk.start, chunk.end, self.pipeline),
            source=doc.source,
            sha256=doc.sha256,
            title=title,
            author=article.author,
            date=article.date,
            start=chunk.start,
            end=chunk.end,
            text=chunk.text,
            vector=_EMPTY,
            sentences=list(chunk.sentences),
            sentence_vectors=_EMPTY,
            section=section,
            page=doc.page_at(chunk.start),
            pipeline=self.pipeline,
        )

    def embed(self, records: list[ChunkRecord]) -> None:
        """Fill in chunk vectors and, from the same forward pass, sentence vectors."""
        inputs, spans = [], []
        for r in records:
            text, offset = embedding_input(r.title, r.text)
            inputs.append(text)
            spans.append([(s - r.start + offset, e - r.start + offset) for s, e in r.sentences])
        for record, embedded in zip(records, self.encoder.embed_spans(inputs, spans), strict=True):
            record.vector = embedded.vector
            record.sentence_vectors = embedded.span_vectors

    def run(
        self,
        paths: Iterable[Path] | None = None,
        *,
        dry_run: bool = False,
        wait: float = 0.0,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Index `paths` (default: the whole corpus root); unchanged files cost no model call."""
        started = time.perf_counter()
        root = self.settings.corpus_dir
        targets = [Path(p) for p in paths] if paths else [root]
        report = IngestReport(dry_run=dry_run)
        # Each file once, however many paths or links lead to it (a source is its resolved path).
        files = list({f.resolve(): f for t in targets for f in discover([t], root)}.values())
        folders = [source_name(t, root) for t in targets if t.resolve().is_dir()]
        if dry_run:
            for path in files:
                self._account(self._read(path), report, None)
            report.seconds = time.perf_counter() - started
            return report
        with ingest_lock(self.settings.data_dir, wait=wait):
            # Named files need only their own manifest records: a one-file change costs one file.
            manifest = self.store.manifest(None if folders else [source_name(f, root) for f in files])
            seen: set[str] = set()
            touched: set[str] = set()
            pending: list[PreparedDocument] = []
            for done, path in enumerate(files, start=1):
                source = source_name(path, root)
                if self._unchanged(path, manifest.get(source)):
                    seen.add(source)
                    self._count_unchanged(manifest[source], report)
                    if progress:
                        progress(source, done, len(files))
                    continue
                loaded = self._read(path)
                prepared = self._account(loaded, report, manifest)
                if isinstance(loaded, ParsedDocument):
                    seen.add(loaded.source)
                if prepared is not None:
                    pending.append(prepared)
                    if sum(len(p.chunks) for p in pending) >= EMBED_BATCH_CHUNKS:
                        self._write(pending, report)
                        pending = []
                if progress:
                    progress(loaded.source, done, len(files))
            self._write(pending, report)
            for source in list(manifest):
                if source not in seen and any(_under(source, folder) for folder in folders):
                    self.store.forget_document(source)
                    del manifest[source]
                    touched.add(source)
                    report.removed += 1
                    report.files.append({"source": source, "outcome": "removed", "reason": ""})
            touched.update(f["source"] for f in report.files if f.get("outcome") == "indexed")
            # Documents an ingest killed before its bump committed: served by no replica until a version
            # names them (they count as unchanged here, their files being what was committed).
            late = self.store.unannounced() - touched
            touched |= late
            # A whole-folder run sweeps everything (leftovers of killed ingests too); a run over named
            # files only looks at their documents.
            live = self.store.manifest(None if folders else sorted(touched | seen))
            swept = self.store.sweep(live, None if folders else touched)
            changed = report.indexed or report.removed or swept or late
            report.index_version = (
                self.store.bump_version(sorted(touched), pipeline=self.pipeline)
                if changed
                else self.store.version()
            )
            report.chunks = sum(r.chunks for r in live.values() if r.source in seen) if seen else 0
        report.seconds = time.perf_counter() - started
        return report

    def _read(self, path: Path) -> ParsedDocument | ReadProblem:
        limits = ReadLimits(self.settings.max_pdf_pages, self.settings.max_docx_bytes)
        return read_document(path, self.settings.corpus_dir, self.settings.max_file_bytes, limits)

    def _unchanged(self, path: Path, record: DocumentRecord | None) -> bool:
        """Whether the indexed version is current, judged by the file's hash before any reading or
        extraction (an unchanged PDF is never parsed again). A record of the file read another way (an
        HTML page indexed as text by an older version) is not current."""
        if record is None or record.pipeline != self.pipeline:
            return False
        if (record.format in CONVERTED_FORMATS) != is_converted(path):
            return False
        try:
            if path.stat().st_size > self.settings.max_file_bytes:
                return False
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return False  # reading it will say what is wrong
        return digest.hexdigest() == record.sha256

    def _count_unchanged(self, record: DocumentRecord, report: IngestReport) -> None:
        report.documents += 1
        report.unchanged += 1
        report.articles += len(record.articles)
        report.files.append({"source": record.source, "outcome": "unchanged", "reason": ""})

    def _account(
        self,
        loaded: ParsedDocument | ReadProblem,
        report: IngestReport,
        manifest: dict[str, DocumentRecord] | None,
    ) -> PreparedDocument | None:
        if isinstance(loaded, ReadProblem):
            report.skipped.append({"source": loaded.source, "reason": loaded.reason})
            report.files.append({"source": loaded.source, "outcome": "skipped", "reason": loaded.reason})
            return None
        current = manifest.get(loaded.source) if manifest is not None else None
        if (
            current
            and current.sha256 == loaded.sha256
            and current.pipeline == self.pipeline
            and current.format == loaded.format
        ):
            self._count_unchanged(current, report)
            return None
        report.documents += 1
        report.files.append({"source": loaded.source, "outcome": "indexed", "reason": ""})
        prepared = self.prepare(loaded)
        report.articles += len(prepared.articles)
        report.dropped_spans += len(prepared.clean.dropped)
        for reason, chars in prepared.clean.dropped_chars().items():
            report.dropped_chars[reason] = report.dropped_chars.get(reason, 0) + chars
        report.per_document.append(
            {
                "source": loaded.source,
                "articles": [a.title for a in prepared.articles],
                "chunks": len(prepared.chunks),
                "kept_chars": sum(e - s for s, e in prepared.clean.kept),
                "dropped_chars": prepared.clean.dropped_chars(),
            }
        )
        if manifest is None:
            report.chunks += len(prepared.chunks)
        return prepared

    def _write(self, pending: list[PreparedDocument], report: IngestReport) -> None:
        """Embed a group of documents, write all their chunks, then commit the group's manifest records
        (few large Chroma calls: per-call overhead dominates small writes)."""
        if not pending:
            return
        chunks = [r for p in pending for r in p.chunks]
        self.embed(chunks)
        self.store.put_chunks(chunks)
        # Extracted texts before the manifest: a committed converted document always has its text.
        self.store.put_texts(
            [(p.doc.sha256, self.pipeline, p.doc.format, p.doc.text) for p in pending if p.doc.converted]
        )
        self.store.commit_documents(
            [
                DocumentRecord(
                    source=p.doc.source,
                    sha256=p.doc.sha256,
                    pipeline=self.pipeline,
                    chunks=len(p.chunks),
                    chars=len(p.doc.text),
                    articles=[ArticleInfo(a.title, a.author, a.date, a.start, a.end) for a in p.articles],
                    dropped=p.clean.dropped_chars(),
                    format=p.doc.format,
                    sections=p.sections,
                    pages=[PageInfo(pg.page, pg.start, pg.end) for pg in p.doc.pages],
                )
                for p in pending
            ]
        )
        report.indexed += len(pending)
        report.embedded_chunks += len(chunks)


def _under(source: str, folder: str) -> bool:
    return folder in ("", ".") or source == folder or source.startswith(folder.rstrip("/") + "/")
