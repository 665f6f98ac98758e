"""Questions asked while a document is being re-ingested see one version of it, never a mix."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from verbatim.ingest.index.embedder import Encoder
from verbatim.service.qa.chunks import StaleSnapshot
from verbatim.service.qa.engine import Engine

from .conftest import make_settings

PARAGRAPH = (
    "Version {v} of the timetable, paragraph {p}: the harbour ferry to the island leaves the north pier at "
    "{h} o'clock on weekdays, calls at the lighthouse landing, and returns by the evening tide; tickets "
    "are sold on board, bicycles travel free, and the crossing takes about forty minutes in calm weather."
)


def _timetable(version: int) -> str:
    return "# Ferry timetable\n\n" + "\n\n".join(
        PARAGRAPH.format(v=version, p=p, h=6 + (version + p) % 12) for p in range(8)
    )


def test_questions_during_updates_see_one_version_of_each_document(tmp_path: Path, encoder: Encoder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ferry.md").write_text(_timetable(0), encoding="utf-8")
    other = "# Trains\n\nThe night train to the capital leaves at ten.\n"
    (corpus / "other.md").write_text(other, encoding="utf-8")
    # No chunk cache: every chunk is read from the store, so replaced chunks really are gone.
    engine = Engine(make_settings(tmp_path / "data", corpus, chunk_cache=0), encoder=encoder)
    engine.start()
    stop = threading.Event()
    problems: list[str] = []
    versions: set[str] = set()
    asked = [0]

    def ask() -> None:
        while not stop.is_set():
            try:
                found = engine.retrieve("When does the harbour ferry leave the north pier?", 5, None)
            except Exception as exc:  # a request must never fail because an update is under way
                problems.append(repr(exc))
                return
            hashes = {h.chunk.sha256 for h in found.hits if h.chunk.source == "ferry.md"}
            if len(hashes) != 1:
                problems.append(f"{len(hashes)} versions of ferry.md in one answer")
            versions.update(hashes)
            asked[0] += 1

    askers = [threading.Thread(target=ask) for _ in range(2)]
    for thread in askers:
        thread.start()
    try:
        for version in range(1, 7):
            (corpus / "ferry.md").write_text(_timetable(version), encoding="utf-8")
            report = engine.ingest([corpus / "ferry.md"])
            assert report.indexed == 1
            assert engine.snapshots.last_load["kind"] == "update"
            assert engine.snapshots.last_load["documents"] == 1  # the change, not the corpus
            # Served at once: the next question reads the new version.
            found = engine.retrieve("When does the harbour ferry leave the north pier?", 5, None)
            assert {h.chunk.sha256 for h in found.hits if h.chunk.source == "ferry.md"} == {
                found.snapshot.documents["ferry.md"].sha256
            }
    finally:
        stop.set()
        for thread in askers:
            thread.join(timeout=30)
        engine.stop()
    assert not problems, problems[:5]
    assert asked[0] >= 10 and len(versions) >= 2  # the questions really did run across versions


def test_an_answer_whose_chunks_went_stale_is_answered_again_on_one_version(
    tmp_path: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ferry.md").write_text(_timetable(0), encoding="utf-8")
    engine = Engine(make_settings(tmp_path / "data", corpus), encoder=encoder)
    engine.start()
    try:
        found = engine.retrieve("When does the harbour ferry leave the north pier?", 5, None)
        real = engine.answerer.answer
        calls: list[int] = []

        def stale_once(*args: object, **kwargs: object) -> object:
            calls.append(1)
            if len(calls) == 1:
                raise StaleSnapshot("replaced meanwhile")
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(engine.answerer, "answer", stale_once)
        response = engine.answer_extractive(found)
        assert len(calls) == 2 and response.citations  # answered again, on a fresh retrieval
        text = (corpus / "ferry.md").read_text(encoding="utf-8")
        assert all(text[c.start : c.end] == c.quote for c in response.citations)
    finally:
        engine.stop()
