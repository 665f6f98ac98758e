"""The Chroma index: chunks with vectors, a manifest of documents, and an index version.

Writes follow a commit protocol so a reader (or an ingest killed half-way) never sees a mix:
1. a changed document's new chunks are written under new ids (ids include the file's hash);
2. its manifest record is replaced: this is the commit point;
3. chunks of the old version are deleted, and the index version is bumped.
Readers only trust chunks whose (source, sha256) matches the manifest, so leftovers of a killed
ingest are invisible and are swept by the next one.

Converted documents (HTML, PDF, DOCX) also have their extracted text stored, keyed by the file's
sha256 (a third collection), written before the manifest record, so every replica serving the index
can serve the text that offsets point into; texts no committed document uses are swept like chunks.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np

from verbatim.ingest.index.records import (
    ChunkRecord,
    DocumentRecord,
    owns,
)
from verbatim.settings import Settings

log = logging.getLogger("verbatim.store")

INDEX_RECORD = "__index__"
_DUMMY = [1.0]
MANIFEST_PAGE = 5000  # manifest records read per call
KEEP_CHANGES = 1000  # versions whose changed sources are kept (older replicas reload the manifest)
TEXT_PART_CHARS = 500_000  # a long text is stored in parts (metadata values stay moderate in size)


class IndexUnavailable(RuntimeError):
    """The Chroma server (or the embedded store) cannot be reached: answer 503, never 500."""


class IndexStore:
    """Chroma access for ingestion and retrieval (embedded folder or a Chroma server)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._chunks: Any = None
        self._docs: Any = None
        self._texts: Any = None
        self._connect_lock = threading.Lock()

    # -- connection -------------------------------------------------------------------------------
    def _connect(self) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self.settings.chroma_url:
            url = urlparse(self.settings.chroma_url)
            if not url.hostname:
                raise IndexUnavailable(f"VERBATIM_CHROMA_URL is not a URL: {self.settings.chroma_url!r}")
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        else:
            path = self.settings.data_dir / "chroma"
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        name = self.settings.collection
        ef = self.settings.hnsw_ef
        self._chunks = client.get_or_create_collection(
            f"{name}_chunks",
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": ef}},
        )
        _search_breadth(self._chunks, ef)
        self._docs = client.get_or_create_collection(f"{name}_docs", embedding_function=None)
        # Texts ride in metadata, not as Chroma documents: documents are full-text indexed, which costs
        # seconds and megabytes per megabyte of text that is only ever fetched by id.
        self._texts = client.get_or_create_collection(f"{name}_texts", embedding_function=None)
        self._client = client

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a Chroma call; connection failures become IndexUnavailable and force a reconnect."""
        try:
            with self._connect_lock:
                if self._client is None:
                    self._connect()
            return fn(*args, **kwargs)
        except IndexUnavailable:
            raise
        except Exception as exc:
            where = self.settings.chroma_url or str(self.settings.data_dir / "chroma")
            problem = storage_problem(exc)
            if problem:  # read-only or full data dir: say so plainly (and retry from scratch next time)
                self._client = None
                if not self.settings.chroma_url:
                    _forget_embedded_systems()
                raise IndexUnavailable(
                    f"the index at {where} cannot be written: {problem}; check that "
                    "VERBATIM_DATA_DIR is writable and its disk has free space"
                ) from exc
            if _is_connection_error(exc):
                self._client = None
                raise IndexUnavailable(f"the index at {where} is unreachable: {type(exc).__name__}") from exc
            raise

    @property
    def chunks(self) -> Any:
        """The chunk collection (only touched inside `_call`, which connects first)."""
        return self._chunks

    @property
    def docs(self) -> Any:
        return self._docs

    def ping(self) -> None:
        """Raise IndexUnavailable unless the index answers."""
        self._call(lambda: self._client.heartbeat())

    # -- manifest and version -----------------------------------------------------------------------
    def index_state(self) -> dict[str, Any]:
        """The index record: version counter and what built the index."""
        got = self._call(lambda: self.docs.get(ids=[INDEX_RECORD], include=["metadatas"]))
        return dict(got["metadatas"][0]) if got["ids"] else {"version": 0}

    def version(self) -> int:
        return int(self.index_state().get("version", 0))

    def bump_version(self, changed: Iterable[str] | None = None, **extra: Any) -> int:
        """Move the index version on. `changed`: the sources this version changed (added, replaced or
        removed), recorded so a replica updates by those documents alone; None when not known (a
        replica then compares the whole manifest)."""
        state = self.index_state()
        version = int(state.get("version", 0)) + 1
        state.update(extra, version=version, updated_at=time.time(), kind="index")
        if changed is not None:
            # Before the version moves: a replica that sees version N finds what N changed, including
            # documents an ingest killed before its bump committed under the previous version.
            named = sorted(set(changed) | self.unannounced(version - 1))
            record = {"kind": "change", "version": version, "sources": json.dumps(named)}
            self._call(
                lambda: self.docs.upsert(ids=[f"change:{version}"], embeddings=[_DUMMY], metadatas=[record])
            )
            if version > KEEP_CHANGES:
                self._call(lambda: self.docs.delete(ids=[f"change:{version - KEEP_CHANGES}"]))
        self._call(lambda: self.docs.upsert(ids=[INDEX_RECORD], embeddings=[_DUMMY], metadatas=[state]))
        return version

    def changes(self, after: int, upto: int) -> set[str] | None:
        """The sources changed by versions after `after` up to `upto`, or None when a version between
        did not record them (too old, or written by an older Verbatim)."""
        if upto <= after or upto - after > KEEP_CHANGES:
            return None
        wanted = [f"change:{v}" for v in range(after + 1, upto + 1)]
        got = self._call(lambda: self.docs.get(ids=wanted, include=["metadatas"]))
        if len(got["ids"]) != len(wanted):
            return None
        return {s for m in got["metadatas"] for s in json.loads(str(m["sources"]))}

    def unannounced(self, version: int | None = None) -> set[str]:
        """Documents committed while the index was at `version` (default: the current one), so named by
        no change record yet: an ingest killed between its commits and its bump leaves them, and the
        next bump must name them or replicas that update by change records never read them."""
        at = self.version() if version is None else version
        found: set[str] = set()
        offset = 0
        while True:
            page = self._call(
                lambda offset=offset: self.docs.get(
                    where={
                        "committed_under": {"$gte": at}
                    },  # only manifest records carry it: one indexed key
                    include=[],
                    limit=MANIFEST_PAGE,
                    offset=offset,
                )
            )
            found.update(i.removeprefix("doc:") for i in page["ids"])
            if len(page["ids"]) < MANIFEST_PAGE:
                return found
            offset += len(page["ids"])

    def manifest(self, sources: Iterable[str] | None = None) -> dict[str, DocumentRecord]:
        """Committed documents by source: every one, or those of `sources` that are committed."""
        metas: list[Any] = []
        if sources is None:
            # A page at a time: one `get` of tens of thousands of records overflows SQLite's limit on
            # query variables inside Chroma ("too many SQL variables", seen at 50,000 documents).
            offset = 0
            while True:
                page = self._call(
                    lambda offset=offset: self.docs.get(
                        where={"kind": "document"}, include=["metadatas"], limit=MANIFEST_PAGE, offset=offset
                    )
                )
                metas += page["metadatas"]
                if len(page["ids"]) < MANIFEST_PAGE:
                    break
                offset += len(page["ids"])
        else:
            ids = [f"doc:{s}" for s in sources]
            for first in range(0, len(ids), 500):
                part = ids[first : first + 500]
                metas += self._call(lambda part=part: self.docs.get(ids=part, include=["metadatas"]))[
                    "metadatas"
                ]
        return {m["source"]: DocumentRecord.from_metadata(m) for m in metas}

    def commit_documents(self, records: Sequence[DocumentRecord]) -> None:
        """Replace the manifest records of documents whose chunks are all written (one call: cheap). Each
        record notes the version it was committed under, so the next bump can name it (`unannounced`)."""
        if records:
            under = self.version()
            self._call(
                lambda: self.docs.upsert(
                    ids=[f"doc:{r.source}" for r in records],
                    embeddings=[_DUMMY] * len(records),
                    metadatas=[{**r.to_metadata(), "committed_under": under} for r in records],
                )
            )

    # -- extracted texts of converted documents ------------------------------------------------------
    def put_texts(self, texts: Sequence[tuple[str, str, str, str]]) -> None:
        """Store (sha256, pipeline, format, text) of converted documents, before their manifest records.
        Keyed by the pipeline too: a new reader's text never overwrites the one being served."""
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        for sha256, pipeline, fmt, text in texts:
            parts = max(1, -(-len(text) // TEXT_PART_CHARS))
            for part in range(parts):
                ids.append(f"{sha256}:{pipeline}:{part}")
                piece = text[part * TEXT_PART_CHARS : (part + 1) * TEXT_PART_CHARS]
                metas.append(
                    {"sha256": sha256, "pipeline": pipeline, "format": fmt, "part": part, "parts": parts,
                     "text": piece}
                )  # fmt: skip
        for first in range(0, len(ids), 50):
            part_ids, part_metas = ids[first : first + 50], metas[first : first + 50]
            self._call(
                lambda part_ids=part_ids, part_metas=part_metas: self._texts.upsert(
                    ids=part_ids, embeddings=[_DUMMY] * len(part_ids), metadatas=part_metas
                )
            )

    def get_text(self, sha256: str, pipeline: str) -> str | None:
        """The stored extracted text of the file with this hash as that pipeline read it, or None if it is
        not (all) there."""
        where = {"$and": [{"sha256": sha256}, {"pipeline": pipeline}]}
        got = self._call(lambda: self._texts.get(where=where, include=["metadatas"]))
        metas = sorted(got["metadatas"], key=lambda m: int(m["part"]))
        if not metas or len(metas) != int(metas[0]["parts"]):
            return None
        return "".join(str(m["text"]) for m in metas)

    def _sweep_texts(self, live: dict[str, DocumentRecord], complete: bool = True) -> int:
        """Delete extracted texts no committed document uses. `live` is the whole manifest when
        `complete`, else only some documents: then nothing is deleted (texts are few and small; the next
        complete sweep takes them)."""
        if not complete:
            return 0
        wanted = {f"{r.sha256}:{r.pipeline}" for r in live.values()}
        got = self._call(lambda: self._texts.get(include=[]))  # ids only: "sha256:pipeline:part"
        stale = [i for i in got["ids"] if i.rsplit(":", 1)[0] not in wanted]
        if stale:
            self._call(lambda: self._texts.delete(ids=stale))
        return len(stale)

    def forget_document(self, source: str) -> None:
        self._call(lambda: self.docs.delete(ids=[f"doc:{source}"]))

    # -- chunks ---------------------------------------------------------------------------------
    def put_chunks(self, records: Sequence[ChunkRecord]) -> None:
        batch = 500
        for first in range(0, len(records), batch):
            part = records[first : first + batch]
            self._call(
                lambda part=part: self.chunks.upsert(
                    ids=[r.chunk_id for r in part],
                    embeddings=[r.vector.tolist() for r in part],
                    documents=[r.text for r in part],
                    metadatas=[r.to_metadata() for r in part],
                )
            )

    def sweep(self, live: dict[str, DocumentRecord], sources: Iterable[str] | None = None) -> int:
        """Delete chunks and extracted texts that no committed document owns (old versions, removed
        files, killed ingests); returns how many records went. With `sources`, only those documents'
        chunks are looked at: the cost of a change, not of the corpus."""
        stale: list[str] = []
        if sources is None:
            pages = self._pages(include=["metadatas"])
        else:
            pages = self._pages_of(sorted(set(sources)), include=["metadatas"])
        for ids, metas in pages:
            for chunk_id, meta in zip(ids, metas, strict=True):
                record = live.get(str(meta.get("source")))
                if record is None or not owns(record, meta):
                    stale.append(chunk_id)
        for first in range(0, len(stale), 1000):
            part = stale[first : first + 1000]
            self._call(lambda part=part: self.chunks.delete(ids=part))
        return len(stale) + self._sweep_texts(live, complete=sources is None)

    def _pages_of(
        self, sources: Sequence[str], include: list[str]
    ) -> Iterator[tuple[list[str], dict[str, list[Any]]]]:
        """The chunks of some sources (stored by any version), a batch of sources at a time."""
        for first in range(0, len(sources), 100):
            part = sources[first : first + 100]
            got = self._call(
                lambda part=part: self.chunks.get(where={"source": {"$in": part}}, include=include)
            )
            if got["ids"]:
                yield got["ids"], got[include[0]] if len(include) == 1 else {k: got[k] for k in include}

    def _pages(self, include: list[str], page: int = 2000) -> Iterator[tuple[list[str], Any]]:
        """Every stored chunk, a page at a time: (ids, the one field asked for) or, for several fields,
        (ids, {field: values})."""
        offset = 0
        while True:
            got = self._call(
                lambda offset=offset: self.chunks.get(include=include, limit=page, offset=offset)
            )
            if not got["ids"]:
                return
            yield got["ids"], got[include[0]] if len(include) == 1 else {k: got[k] for k in include}
            offset += len(got["ids"])

    def load_chunks(self, live: dict[str, DocumentRecord]) -> list[ChunkRecord]:
        """All chunks owned by committed documents, with vectors, in document order (tools and tests;
        answering reads chunks by id, `get_chunks`)."""
        records = [ChunkRecord.from_stored(*row) for row in self.stored_chunks(live, vectors=True)]
        return sorted(records, key=lambda r: (r.source, r.start, r.end))

    def stored_chunks(
        self, live: dict[str, DocumentRecord], sources: Sequence[str] | None = None, vectors: bool = False
    ) -> Iterator[tuple[str, str, dict[str, Any], Any]]:
        """(id, text, metadata, vector or None) of the chunks committed documents own: all of them, or
        those of `sources`, a page at a time (what the lexical index is built from)."""
        include = ["documents", "metadatas", *(["embeddings"] if vectors else [])]
        pages = self._pages(include) if sources is None else self._pages_of(list(sources), include)
        for ids, got in pages:
            vecs = got["embeddings"] if vectors else [None] * len(ids)
            for chunk_id, text, meta, vector in zip(
                ids, got["documents"], got["metadatas"], vecs, strict=True
            ):
                owner = live.get(str(meta.get("source")))
                if owner is not None and owns(owner, meta):
                    yield chunk_id, text, meta, vector

    def get_chunks(self, ids: Sequence[str]) -> list[ChunkRecord]:
        """The chunks with these ids that exist, with vectors (an id an ingest has since deleted is
        left out)."""
        got = self._call(
            lambda: self.chunks.get(ids=list(ids), include=["metadatas", "documents", "embeddings"])
        )
        return [
            ChunkRecord.from_stored(cid, text, meta, vector)
            for cid, text, meta, vector in zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
            )
        ]

    def count(self) -> int:
        return int(self._call(lambda: self.chunks.count()))

    def dense_query(
        self, vector: np.ndarray, n: int, sources: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest chunks. No count() first: Chroma answers an
        oversized n_results with what it has, and count() holds the GIL long enough to stall the server."""
        where = {"source": {"$in": list(sources)}} if sources else None
        got = self._call(
            lambda: self.chunks.query(
                query_embeddings=[vector.tolist()],
                n_results=n,
                where=where,
                include=["distances"],
            )
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(got["ids"][0], got["distances"][0], strict=True)]


def _search_breadth(collection: Any, ef: int) -> None:
    """Give an existing chunk collection the configured HNSW ef_search before it is first searched (a
    process applies it when it loads the graph). HNSW is approximate: on the 126 k-chunk benchmark index,
    Chroma's default of 100 left the nearest chunk out of the top 30 for 4.7 % of 300 eval questions,
    400 for none, at +0.9 ms a query (`docs/scaling.md`). A store that cannot be written keeps its
    value, with a warning."""
    hnsw = (collection.configuration_json or {}).get("hnsw") or {}
    if hnsw.get("ef_search") == ef:
        return
    try:
        collection.modify(configuration={"hnsw": {"ef_search": ef}})
    except Exception as exc:  # a read-only store still serves, at the breadth it was given
        log.warning("could not set the index's HNSW ef_search to %s: %s", ef, exc)


_STORAGE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})
_STORAGE_TEXTS = ("readonly database", "read-only file system", "database or disk is full", "no space left")


def storage_problem(exc: BaseException) -> str | None:
    """What is wrong when the store cannot be written (permissions, read-only disk, disk full), else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _STORAGE_ERRNOS:
            return f"{seen.strerror} ({seen.filename})" if seen.filename else str(seen.strerror)
        text = str(seen)
        if any(t in text.lower() for t in _STORAGE_TEXTS):
            return text.split(": ", 1)[-1].split(") ", 1)[-1] if "returned from database" in text else text
        seen = seen.__cause__ or seen.__context__
    return None


def _forget_embedded_systems() -> None:
    """Chroma caches a half-started embedded client per path; drop it so the next call starts afresh."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:  # best effort: an older or newer Chroma may not have the cache
        pass


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.TransportError | ConnectionError | socket.gaierror | TimeoutError):
            return True
        text = str(seen).lower()
        if any(w in text for w in ("could not connect", "connection refused", "connect error", "timed out")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
