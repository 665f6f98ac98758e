"""Entry points that wire settings, encoder, store and pipeline together."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from verbatim.ingest.index.embedder import load_encoder
from verbatim.ingest.index.store import IndexStore
from verbatim.ingest.pipeline import Ingestor, IngestReport, Progress
from verbatim.settings import Settings


def run_ingest(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    *,
    dry_run: bool = False,
    wait: float = 0.0,
    progress: Progress | None = None,
) -> IngestReport:
    """Run one ingest in this process."""
    encoder = load_encoder(settings)
    return Ingestor(settings, encoder, IndexStore(settings)).run(
        paths, dry_run=dry_run, wait=wait, progress=progress
    )
