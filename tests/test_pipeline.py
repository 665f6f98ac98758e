"""Incremental, crash-safe ingestion into embedded Chroma and a real `chroma run` server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, ChromaServer, make_settings, read_source
from verbatim.ingest.index.embedder import Encoder
from verbatim.ingest.index.lock import IngestBusy, ingest_lock
from verbatim.ingest.index.store import IndexStore
from verbatim.ingest.pipeline import Ingestor


def ingestor(tmp_path: Path, corpus: Path, encoder: Encoder, **kw: object) -> Ingestor:
    settings = make_settings(tmp_path / "data", corpus, **kw)
    return Ingestor(settings, encoder, IndexStore(settings))


def assert_index_consistent(store: IndexStore, corpus: Path) -> int:
    """Every chunk owned by a committed document is a raw span of its file."""
    live = store.manifest()
    chunks = store.load_chunks(live)
    for chunk in chunks:
        assert read_source(corpus, chunk.source)[chunk.start : chunk.end] == chunk.text
    assert sum(d.chunks for d in live.values()) == len(chunks)
    return len(chunks)


def test_a_new_pipeline_rereads_files_and_serves_only_its_own_chunks(
    tmp_path: Path, corpus: Path, encoder: Encoder
) -> None:
    """Reading rules change (PIPELINE_VERSION): every file is read again, and the chunks of the old
    reading, same file content or not, are neither served nor kept (they once were: stale spans)."""
    ing = ingestor(tmp_path, corpus, encoder)
    first = ing.run()
    fresh = assert_index_consistent(ing.store, corpus)
    ing.pipeline = "another-reading"
    ing.chunker = type(ing.chunker)(encoder.count_tokens, encoder.max_seq_length, chunk_tokens=120)
    again = ing.run()
    assert again.indexed == first.indexed and again.unchanged == 0
    live = ing.store.manifest()
    chunks = ing.store.load_chunks(live)
    assert chunks and all(c.pipeline == "another-reading" for c in chunks)
    assert assert_index_consistent(ing.store, corpus) == len(chunks) != fresh
    stored = sum(len(ids) for ids, _ in ing.store._pages(include=["metadatas"]))
    assert stored == len(chunks)  # the old reading's chunks were swept


def test_reingest_embeds_nothing_changed_file_alone_removed_file_gone(
    tmp_path: Path, corpus: Path, encoder: Encoder
) -> None:
    ing = ingestor(tmp_path, corpus, encoder)
    first = ing.run()
    assert first.indexed == 5 and first.articles == 13 and first.embedded_chunks == first.chunks > 50
    calls = encoder.calls
    again = ing.run()
    assert encoder.calls == calls, "an unchanged corpus must not call the model"
    assert again.indexed == 0 and again.unchanged == 5 and again.embedded_chunks == 0
    version = again.index_version

    changed = corpus / "001_9cfcfe3f674856fa.txt"
    changed.write_text(
        read_source(corpus, changed.name) + "\nA new closing paragraph about the ferry fleet.\n",
        encoding="utf-8",
    )
    (corpus / "004_fb0761cbcaf37eb0.txt").unlink()
    third = ing.run()
    assert third.indexed == 1 and third.unchanged == 3 and third.removed == 1
    assert 0 < third.embedded_chunks < first.chunks / 2
    assert third.index_version > version
    assert set(ing.store.manifest()) == {p.name for p in corpus.glob("*.txt")}
    assert assert_index_consistent(ing.store, corpus) > 40


def test_second_ingest_refuses_clearly_while_one_runs(tmp_path: Path) -> None:
    with (
        ingest_lock(tmp_path),
        pytest.raises(IngestBusy, match="another ingest is running"),
        ingest_lock(tmp_path, wait=0.3),
    ):
        pass
    with ingest_lock(tmp_path):  # released: the next one proceeds
        pass


def test_ingest_killed_midway_leaves_previous_index_and_next_run_completes(
    tmp_path: Path, corpus: Path, encoder: Encoder
) -> None:
    ing = ingestor(tmp_path, corpus, encoder)
    ing.run()
    before = assert_index_consistent(ing.store, corpus)
    # Make every document change, then kill an ingest while it writes.
    for path in corpus.glob("*.txt"):
        path.write_text(
            read_source(corpus, path.name) + "\nEdited after the first ingest.\n", encoding="utf-8"
        )
    env = {
        **os.environ,
        "VERBATIM_DATA_DIR": str(tmp_path / "data"),
        "VERBATIM_CORPUS_DIR": str(corpus),
        "VERBATIM_MODEL_CACHE_DIR": str(ing.settings.models_dir),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "verbatim.cli", "ingest"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until it is writing, then kill it hard
        if b"ingest 1/" in line or b"ingest 2/" in line:
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    fresh = IndexStore(ing.settings)
    assert assert_index_consistent(fresh, _snapshot_corpus(corpus, fresh)) > 0
    # The next run completes and the index is consistent with the edited files.
    report = Ingestor(ing.settings, encoder, fresh).run(wait=30)
    assert report.indexed + report.unchanged == 5
    assert assert_index_consistent(fresh, corpus) >= before


def _snapshot_corpus(corpus: Path, store: IndexStore) -> Path:
    """Documents committed before the kill still hold the old text: check them against what they hashed."""
    import hashlib

    old = corpus.parent / "old"
    old.mkdir(exist_ok=True)
    for source, record in store.manifest().items():
        text = read_source(corpus, source)
        if hashlib.sha256(text.encode()).hexdigest() != record.sha256:
            text = text.removesuffix("\nEdited after the first ingest.\n")
        assert hashlib.sha256(text.encode()).hexdigest() == record.sha256
        (old / source).write_text(text, encoding="utf-8", newline="")
    return old


@pytest.mark.slow
def test_ingest_and_search_against_a_chroma_server(
    tmp_path: Path, corpus: Path, encoder: Encoder, chroma_server: ChromaServer
) -> None:
    ing = ingestor(tmp_path, corpus, encoder, chroma_url=chroma_server.url)
    report = ing.run()
    assert report.indexed == 5 and not (tmp_path / "data" / "chroma").exists()
    assert assert_index_consistent(ing.store, corpus) == report.chunks
    vector = encoder.embed(["How many tons of wheat arrived in Armenia?"])[0]
    top = ing.store.dense_query(vector, 3)
    assert len(top) == 3 and all(0 < sim <= 1.0001 for _, sim in top)
    assert ing.run().embedded_chunks == 0


def test_an_ingest_killed_between_commit_and_bump_is_announced_by_the_next_run(
    tmp_path: Path, corpus: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ing = ingestor(tmp_path, corpus, encoder)
    ing.run()
    first = ing.store.version()
    edited = sorted(corpus.glob("*.txt"))[0]
    edited.write_text(read_source(corpus, edited.name) + "\nA quagga was seen.\n", encoding="utf-8")

    def killed(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt  # the process dies after committing, before the version moves

    monkeypatch.setattr(ing.store, "bump_version", killed)
    with pytest.raises(KeyboardInterrupt):
        ing.run()
    monkeypatch.undo()
    assert ing.store.version() == first and ing.store.unannounced() == {edited.name}
    # Nothing changed on disk since: the file counts as unchanged, but the run moves the version and
    # names it, so replicas that update by change records serve it.
    report = Ingestor(ing.settings, encoder, IndexStore(ing.settings)).run()
    assert (report.indexed, report.unchanged) == (0, 5)
    assert report.index_version == first + 1
    assert ing.store.changes(first, first + 1) == {edited.name}
