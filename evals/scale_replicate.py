"""A larger index derived from a real one, for sizes past what the encoder can embed here in reasonable time.

The derived index starts as a copy of the real index's Chroma folder (copy 0: the real documents under
their own names), then gets copies 1..K-1 of every committed document under `copy-K/<source>`: each
chunk with a new id (`chunk_id_for` of the new source), the same text, metadata and sentence vectors,
and its chunk vector perturbed by small Gaussian noise and renormalised (identical vectors would make
HNSW degenerate). Writes go through `IndexStore` in the order ingest uses (chunks, then the manifest
records of documents whose chunks are all written, sweep, bump), in groups of about 500 chunks, so a
killed build leaves no visible half-document and a rerun skips the copies already committed.
Extracted texts of converted documents are keyed by content hash, not source, so the copies share them.

No encoder runs: label every figure "1 M = the 100 k real chunks x 10 under distinct source names,
vectors perturbed; no encoder".
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from verbatim.ingest.index.records import ChunkRecord, DocumentRecord, chunk_id_for, owns
from verbatim.ingest.index.store import IndexStore
from verbatim.settings import Settings

GROUP_CHUNKS = 500
NOISE_SIGMA = 0.01  # per dimension: cosine to the original about 0.98 for 384-dimensional unit vectors
COPY_PREFIX = "copy-"


@dataclass
class Replication:
    """What a replication did."""

    copies: int
    base_documents: int
    base_chunks: int
    documents: int = 0  # in the derived index, all copies
    chunks: int = 0
    written_documents: int = 0  # this run (a resumed run writes only what was missing)
    written_chunks: int = 0
    swept: int = 0
    index_version: int = 0
    seconds: float = 0.0


def copy_source(copy: int, source: str) -> str:
    """The source name of copy `copy` of a document (copy 0 keeps its own name)."""
    return source if copy == 0 else f"{COPY_PREFIX}{copy}/{source}"


def perturb(vector: np.ndarray, seed: int, sigma: float = NOISE_SIGMA) -> np.ndarray:
    """The unit vector plus Gaussian noise, renormalised (deterministic for a seed)."""
    noisy = vector.astype(np.float32) + np.random.default_rng(seed).normal(0.0, sigma, vector.shape).astype(
        np.float32
    )
    norm = float(np.linalg.norm(noisy))
    return noisy / norm if norm > 0 else noisy


def copy_chunk(record: ChunkRecord, copy: int) -> ChunkRecord:
    """A chunk of copy `copy`: new source and id, the same text and sentence vectors, a perturbed vector."""
    source = copy_source(copy, record.source)
    chunk_id = chunk_id_for(source, record.sha256, record.start, record.end, record.pipeline)
    return dataclasses.replace(
        record, chunk_id=chunk_id, source=source, vector=perturb(record.vector, int(chunk_id[:12], 16))
    )


def seed_from(base_data_dir: Path, data_dir: Path) -> None:
    """Start the derived index as a copy of the real index's Chroma folder (nothing may hold either)."""
    if (data_dir / "chroma").exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / "chroma.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(base_data_dir / "chroma", partial)
    partial.rename(data_dir / "chroma")  # only a complete copy counts as started


def _groups(records: Sequence[DocumentRecord], size: int) -> list[list[DocumentRecord]]:
    groups: list[list[DocumentRecord]] = [[]]
    count = 0
    for record in records:
        if groups[-1] and count + record.chunks > size:
            groups.append([])
            count = 0
        groups[-1].append(record)
        count += record.chunks
    return [g for g in groups if g]


def _read_chunks(store: IndexStore, records: Sequence[DocumentRecord]) -> list[ChunkRecord]:
    """The committed chunks of these documents, read back through the chunk collection."""
    by_source = {r.source: r for r in records}
    got: Any = store._call(
        lambda: store.chunks.get(
            where={"source": {"$in": list(by_source)}},
            include=["metadatas", "documents", "embeddings"],
        )
    )
    out = []
    for chunk_id, text, meta, vector in zip(
        got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
    ):
        owner = by_source.get(str(meta.get("source")))
        if owner is not None and owns(owner, meta):
            out.append(ChunkRecord.from_stored(chunk_id, text, meta, vector))
    return out


def replicate(
    settings: Settings,
    copies: int,
    group_chunks: int = GROUP_CHUNKS,
    progress: Callable[[str], None] | None = None,
) -> Replication:
    """Add copies 1..copies-1 of every base document (those not under `copy-K/`) to the index of
    `settings`; copies already committed are skipped."""
    started = time.perf_counter()
    store = IndexStore(settings)
    manifest = store.manifest()
    base = sorted(
        (r for r in manifest.values() if not r.source.startswith(COPY_PREFIX)), key=lambda r: r.source
    )
    result = Replication(copies, len(base), sum(r.chunks for r in base))
    groups = _groups(base, group_chunks)
    for number, group in enumerate(groups, start=1):
        todo = [
            (copy, r)
            for copy in range(1, copies)
            for r in group
            if not _committed(manifest.get(copy_source(copy, r.source)), r)
        ]
        if not todo:
            continue
        chunks = _read_chunks(store, group)
        by_source: dict[str, list[ChunkRecord]] = {}
        for chunk in chunks:
            by_source.setdefault(chunk.source, []).append(chunk)
        for copy in sorted({c for c, _ in todo}):
            docs = [r for c, r in todo if c == copy]
            written = [copy_chunk(ch, copy) for r in docs for ch in by_source.get(r.source, [])]
            store.put_chunks(written)
            store.commit_documents(
                [
                    dataclasses.replace(r, source=copy_source(copy, r.source), ingested_at=time.time())
                    for r in docs
                ]
            )
            result.written_documents += len(docs)
            result.written_chunks += len(written)
        if progress:
            progress(f"group {number}/{len(groups)}: {result.written_chunks} chunks written this run")
    live = store.manifest()
    result.swept = store.sweep(live)
    result.index_version = store.bump_version()
    result.documents = len(live)
    result.chunks = sum(r.chunks for r in live.values())
    result.seconds = time.perf_counter() - started
    return result


def _committed(copy: DocumentRecord | None, base: DocumentRecord) -> bool:
    """Whether a copy of `base` is already committed (a rerun skips it)."""
    return copy is not None and (copy.sha256, copy.pipeline, copy.chunks) == (
        base.sha256,
        base.pipeline,
        base.chunks,
    )


def stderr_progress(message: str) -> None:
    print(f"… replicate: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a replication in this process (the benchmark runs it as a child, which alone holds the store)
    and print its outcome as JSON."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m verbatim.evals.scale_replicate", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="the derived index (seeded already)")
    parser.add_argument("--copies", type=int, required=True, help="total copies, the real one included")
    args = parser.parse_args(argv)
    if args.copies < 2:
        parser.error("--copies must be at least 2")
    settings = Settings(data_dir=args.data_dir, chroma_url=None)
    result = replicate(settings, args.copies, progress=stderr_progress)
    print(json.dumps(dataclasses.asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
