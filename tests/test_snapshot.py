"""Snapshots: one immutable index version; the next is made from the change, and equals a full rebuild."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import bm25s
import numpy as np
import pytest

from verbatim.ingest.index.records import ChunkRecord, DocumentRecord, chunk_id_for
from verbatim.ingest.index.store import IndexStore, IndexUnavailable
from verbatim.service.qa.chunks import StaleSnapshot
from verbatim.service.qa.lexical import IndexedChunk, LexicalIndex
from verbatim.service.qa.snapshot import Snapshot, SnapshotHolder
from verbatim.service.qa.text import terms
from verbatim.settings import Settings

WORDS = "wheat rail armenia fuel grain port crane harbour tariff visa border corridor train cargo".split()


def _chunk(cid: str, text: str, source: str = "a.txt") -> ChunkRecord:
    v = np.ones(4, dtype=np.float32) / 2
    return ChunkRecord(
        cid, source, "x", "Title", None, None, 0, len(text), text, v, [(0, len(text))], v[None, :]
    )


def test_an_in_memory_snapshot_indexes_its_chunks() -> None:
    snap = Snapshot.of_chunks(3, {}, [_chunk("c1", "Wheat reached Armenia by rail.")])
    assert snap.chunk_count == 1 and snap.has_chunk("c1") and not snap.has_chunk("c2")
    assert snap.term_weight("wheat") < snap.term_weight("never-seen")  # unknown terms weigh the most
    assert snap.knows_term("wheat") and not snap.knows_term("never-seen")
    assert "armenia" in snap.vocabulary
    assert snap.memo("shingles", "c1", lambda: [1]) is snap.memo("shingles", "c1", lambda: [2])
    with pytest.raises(StaleSnapshot):
        snap.chunk("c2")


def test_lexical_scores_equal_bm25s_over_several_segments() -> None:
    rng = random.Random(7)
    docs = [[rng.choice(WORDS) for _ in range(rng.randint(0, 30))] for _ in range(300)]
    chunks = [IndexedChunk(f"c{i:03d}", f"s{i // 3}", toks) for i, toks in enumerate(docs)]
    index = LexicalIndex.build(chunks, segment_chunks=50)  # several segments, documents never split
    assert len(index.segments) > 4 and index.live_chunks == 300
    reference = bm25s.BM25()
    reference.index([t or ["\x00"] for t in docs], show_progress=False)
    for query in (["wheat"], ["rail", "cargo"], ["visa", "visa", "border"], ["grain", "port", "crane"]):
        expected = reference.get_scores(query)
        got = dict(index.search(query, 300))
        assert len(got) == int((expected > 0).sum())
        for cid, score in got.items():
            assert score == pytest.approx(float(expected[int(cid[1:])]), rel=1e-4)
    # A source filter keeps only that document's chunks.
    assert {cid for cid, _ in index.search(["wheat", "rail"], 50, ["s1"])} <= {"c003", "c004", "c005"}


def test_removing_and_replacing_documents_equals_a_rebuild() -> None:
    rng = random.Random(3)
    corpus = {f"s{i}": [[rng.choice(WORDS) for _ in range(12)] for _ in range(4)] for i in range(40)}

    def chunks(source: str, docs: list[list[str]], tag: str = "") -> list[IndexedChunk]:
        return [IndexedChunk(f"{source}{tag}-{j}", source, toks) for j, toks in enumerate(docs)]

    index = LexicalIndex.build(c for s in sorted(corpus) for c in chunks(s, corpus[s]))
    before = index
    corpus["s5"] = [["wheat", "tariff", "wheat"]]  # changed
    del corpus["s7"]  # removed
    corpus["s99"] = [["harbour", "visa"], ["cargo"]]  # added
    index = index.apply(["s5", "s7"], chunks("s5", corpus["s5"], "v2") + chunks("s99", corpus["s99"]))
    rebuilt = LexicalIndex.build(
        c for s in sorted(corpus) for c in chunks(s, corpus[s], "v2" if s == "s5" else "")
    )
    assert index.live_chunks == rebuilt.live_chunks and index.live_length == rebuilt.live_length
    for query in (["wheat"], ["tariff", "wheat"], ["visa"], ["cargo", "rail"]):
        _equal(index.search(query, 20), rebuilt.search(query, 20))
        assert index.document_frequency(query[0]) == rebuilt.document_frequency(query[0])
    assert index.chunk_ids("s7") == [] and index.chunk_ids("s5") == ["s5v2-0"]
    assert not index.contains("s5-0") and index.contains("s5v2-0")
    # The version a request holds did not move.
    assert before.contains("s5-0") and before.contains("s7-0") and not before.contains("s99-0")


def _equal(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> None:
    assert [cid for cid, _ in a] == [cid for cid, _ in b]
    assert [score for _, score in a] == pytest.approx([score for _, score in b], rel=1e-6)


def test_compaction_drops_dead_chunks_and_merges_small_segments_without_changing_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from verbatim.service.qa import lexical

    monkeypatch.setattr(lexical, "SMALL_SEGMENT", 20)
    monkeypatch.setattr(lexical, "MAX_SMALL", 3)
    rng = random.Random(5)

    def doc(source: str, tag: str) -> list[IndexedChunk]:
        return [
            IndexedChunk(f"{source}{tag}{j}", source, [rng.choice(WORDS) for _ in range(8)]) for j in range(3)
        ]

    corpus = {f"s{i:02d}": doc(f"s{i:02d}", "a") for i in range(30)}
    index = LexicalIndex.build((c for s in sorted(corpus) for c in corpus[s]), segment_chunks=30)
    for step in range(12):  # one small segment per update; most of the first segment dies
        source = f"s{step:02d}"
        corpus[source] = doc(source, f"b{step}")
        index = index.apply([source], corpus[source])
    compact = index.compacted()
    assert len(compact.segments) < len(index.segments)
    # The first segment (s00-s09, all replaced) is gone; the second (s10-s19) is 80 % live and kept.
    assert all(live.mean() >= 0.5 for live in compact.live)
    assert sum(len(s) for s in compact.segments) == compact.live_chunks + 6
    rebuilt = LexicalIndex.build(c for s in sorted(corpus) for c in corpus[s])
    for query in (["wheat"], ["rail", "cargo"], ["visa", "border", "port"]):
        _equal(compact.search(query, 40), rebuilt.search(query, 40))
        _equal(compact.search(query, 40, ["s03", "s20"]), rebuilt.search(query, 40, ["s03", "s20"]))
    for source in corpus:
        assert compact.chunk_ids(source) == [c.chunk_id for c in corpus[source]]


# -- against a real (embedded) Chroma store ----------------------------------------------------------


class Writer:
    """Writes documents the way ingest does: chunks, manifest record, sweep of the changed sources,
    version bump naming them."""

    def __init__(self, store: IndexStore) -> None:
        self.store = store
        self.rng = np.random.default_rng(0)

    def records(self, source: str, text: str) -> tuple[DocumentRecord, list[ChunkRecord]]:
        sha = hashlib.sha256(text.encode()).hexdigest()
        chunks, offset = [], 0
        for part in text.split("\n"):
            start, end = offset, offset + len(part)
            offset = end + 1
            v = self.rng.standard_normal(8).astype(np.float32)
            v /= np.linalg.norm(v)
            cid = chunk_id_for(source, sha, start, end, "p")
            chunks.append(
                ChunkRecord(
                    cid,
                    source,
                    sha,
                    "T",
                    None,
                    None,
                    start,
                    end,
                    part,
                    v,
                    [(start, end)],
                    v[None, :],
                    pipeline="p",
                )
            )
        return DocumentRecord(source, sha, "p", len(chunks), len(text), [], {}), chunks

    def write(self, docs: dict[str, str], removed: tuple[str, ...] = (), record_changes: bool = True) -> None:
        for source, text in docs.items():
            record, chunks = self.records(source, text)
            self.store.put_chunks(chunks)
            self.store.commit_documents([record])
        for source in removed:
            self.store.forget_document(source)
        changed = sorted([*docs, *removed])
        self.store.sweep(self.store.manifest(changed), changed)
        self.store.bump_version(changed if record_changes else None)


def _texts(n: int) -> dict[str, str]:
    rng = random.Random(n)
    return {
        f"doc{i}.txt": "\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(3))
        for i in range(n)
    }


QUERIES = (["wheat"], ["rail", "cargo"], ["visa", "border", "zebra"], ["zebra", "quagga"], ["harbour"])


def _same(a: Snapshot, b: Snapshot) -> None:
    assert a.documents.keys() == b.documents.keys()
    assert {s: (d.sha256, d.pipeline) for s, d in a.documents.items()} == {
        s: (d.sha256, d.pipeline) for s, d in b.documents.items()
    }
    assert a.chunk_count == b.chunk_count
    for query in QUERIES:
        _equal(a.lexical.search(query, 50), b.lexical.search(query, 50))
        assert a.term_weight(query[0]) == pytest.approx(b.term_weight(query[0]))
    for source in a.documents:
        assert [c.chunk_id for c in a.document_chunks(source)] == [
            c.chunk_id for c in b.document_chunks(source)
        ]
    for word in ("zebra", "quagga", "wheat"):
        assert (word in a.vocabulary) == (word in b.vocabulary)
    if a.vectors is not None and b.vectors is not None:  # exact dense search: same rows, same answers
        assert sorted(a.vectors.chunk_ids()) == sorted(b.vectors.chunk_ids())
        for probe in np.eye(8, dtype=np.float32):
            assert a.vectors.search(probe, 20) == b.vectors.search(probe, 20)


@pytest.mark.parametrize("record_changes", [True, False], ids=["changelog", "manifest-diff"])
def test_an_update_applies_only_the_change_and_equals_a_full_rebuild(
    tmp_path: Path, record_changes: bool
) -> None:
    store = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    writer = Writer(store)
    texts = _texts(30)
    writer.write(texts)
    holder = SnapshotHolder(store)
    first = holder.refresh()
    assert first is not None and holder.last_load["kind"] == "full" and first.chunk_count == 90

    steps = [
        ({"new.txt": "zebra quagga wheat\nharbour harbour"}, ()),  # add
        ({"doc3.txt": "zebra rail\ncargo visa border"}, ()),  # change
        ({}, ("doc4.txt", "doc5.txt")),  # remove
        ({"doc6.txt": "quagga"}, ("new.txt",)),  # change and remove in one version
    ]
    snapshots = [first]
    for docs, removed in steps:
        writer.write(docs, removed, record_changes)
        snap = holder.refresh()
        assert snap is not None and snap is not snapshots[-1]
        assert holder.last_load["kind"] == "update"
        assert holder.last_load["documents"] == len(docs) + len(removed)  # the change, not the corpus
        _same(snap, SnapshotHolder(store).refresh())  # type: ignore[arg-type]
        assert snap.vectors is not None and len(snap.vectors) == snap.chunk_count
        snapshots.append(snap)
    # Every earlier snapshot still reads its own version whole: its index never moved ...
    assert snapshots[0].lexical.search(["zebra"], 5) == []
    assert [cid for cid, _ in snapshots[1].lexical.search(["quagga"], 5)] == [
        c.chunk_id for c in snapshots[1].document_chunks("new.txt")
    ][:1]
    # ... and a chunk the store no longer has is never replaced by another version's: the request is
    # told (and answered again on the new version, `Engine._fresh`).
    old_doc3 = writer.records("doc3.txt", texts["doc3.txt"])[1][0].chunk_id
    holder.chunk_source._cache.clear()
    with pytest.raises(StaleSnapshot):
        snapshots[0].chunk(old_doc3)


def test_many_updates_keep_the_segment_count_bounded(tmp_path: Path) -> None:
    store = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    writer = Writer(store)
    writer.write(_texts(10))
    holder = SnapshotHolder(store)
    holder.refresh()
    for i in range(20):
        writer.write({f"extra{i}.txt": f"zebra {WORDS[i % len(WORDS)]}\nquagga"})
        holder.refresh()
    snap = holder.current
    assert snap is not None and len(snap.lexical.segments) <= 12
    _same(snap, SnapshotHolder(store).refresh())  # type: ignore[arg-type]


def test_a_small_index_is_searched_exactly_until_it_outgrows_the_chunk_cache(tmp_path: Path) -> None:
    store = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    writer = Writer(store)
    writer.write(_texts(10))  # 30 chunks
    holder = SnapshotHolder(store, chunk_cache=31)
    snap = holder.refresh()
    assert snap is not None and snap.vectors is not None and len(snap.vectors) == 30
    old = {c.chunk_id for c in snap.document_chunks("doc0.txt")}
    writer.write({"new.txt": "zebra\nquagga"}, ("doc0.txt",))  # 27 + 2 chunks: still fits
    snap = holder.refresh()
    assert snap is not None and snap.vectors is not None and len(snap.vectors) == 29
    new = snap.document_chunks("new.txt")
    assert snap.vectors.search(new[1].vector, 1) == [(new[1].chunk_id, pytest.approx(1.0))]
    assert old and not set(snap.vectors.chunk_ids()) & old
    writer.write({"more.txt": "a\nb\nc"})  # 32 chunks: past the cache, Chroma searches from now on
    snap = holder.refresh()
    assert snap is not None and snap.vectors is None
    assert SnapshotHolder(store, chunk_cache=31).refresh().vectors is None  # type: ignore[union-attr]


def test_an_index_rebuilt_from_scratch_is_read_whole(tmp_path: Path) -> None:
    store = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    writer = Writer(store)
    writer.write(_texts(3))
    writer.write({"new.txt": "zebra quagga"})
    holder = SnapshotHolder(store)
    assert holder.refresh() is not None
    # The collections are dropped and written again (a reset Chroma server): the version starts over.
    store._client.delete_collection("verbatim_chunks")
    store._client.delete_collection("verbatim_docs")
    store._client = None
    fresh = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    Writer(fresh).write({"other.txt": "harbour ferry"})
    holder.store = fresh
    snap = holder.refresh()
    assert snap is not None and holder.last_load["kind"] == "full"
    assert set(snap.documents) == {"other.txt"} and not snap.knows_term("zebra")


class DownStore:
    def version(self) -> int:
        raise IndexUnavailable("down")


def test_refresh_keeps_serving_when_the_store_is_down(tmp_path: Path) -> None:
    store = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    Writer(store).write(_texts(2))
    holder = SnapshotHolder(store)
    snap = holder.refresh()
    assert snap is not None and holder.refresh() is snap  # same version: nothing reloaded
    holder.store = DownStore()  # type: ignore[assignment]
    assert holder.refresh() is snap and holder.last_error == "down"


def test_terms_are_what_the_index_reads() -> None:
    assert terms("Wheat trains") == ["wheat", "train"]


def test_a_large_index_is_saved_and_a_restart_applies_only_what_changed_since(tmp_path: Path) -> None:
    store = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    writer = Writer(store)
    writer.write(_texts(20))
    cache = tmp_path / "cache"
    # An index larger than the chunk cache is "large": its lexical index is saved after the full load.
    first = SnapshotHolder(store, chunk_cache=10, cache_path=cache)
    assert first.refresh() is not None and first.last_load["kind"] == "full"
    first.wait_saved()
    assert (cache / "state.json").exists()
    writer.write({"doc2.txt": "zebra quagga", "new.txt": "harbour zebra"}, ("doc7.txt",))
    restarted = SnapshotHolder(store, chunk_cache=10, cache_path=cache)
    snap = restarted.refresh()
    assert snap is not None
    assert (restarted.last_load["kind"], restarted.last_load["documents"]) == ("cache", 3)
    _same(snap, SnapshotHolder(store).refresh())  # type: ignore[arg-type]
    # A chunk is read from the store when a question needs it (none is held beyond the cache).
    assert snap.document_chunks("new.txt")[0].text == "harbour zebra"
    # A cache that cannot be read is ignored: a full load follows.
    (cache / "vocabulary.npz").write_bytes(b"not numpy")
    again = SnapshotHolder(store, chunk_cache=10, cache_path=cache)
    assert again.refresh() is not None and again.last_load["kind"] == "full"


def test_the_whole_manifest_is_read_a_page_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from verbatim.ingest.index import store as store_module

    store = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    Writer(store).write(_texts(11))
    monkeypatch.setattr(store_module, "MANIFEST_PAGE", 4)  # 11 documents: pages of 4, 4 and 3
    assert sorted(store.manifest()) == sorted(_texts(11))


def test_documents_committed_by_an_ingest_killed_before_its_bump_are_named_by_the_next_version(
    tmp_path: Path,
) -> None:
    store = IndexStore(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    writer = Writer(store)
    writer.write(_texts(5))
    replica = SnapshotHolder(store)
    assert replica.refresh() is not None
    # An ingest commits a document and is killed before it moves the version: nothing announces it.
    record, chunks = writer.records("killed.txt", "zebra quagga\nharbour")
    store.put_chunks(chunks)
    store.commit_documents([record])
    assert store.unannounced() == {"killed.txt"}
    # The next version names only what that ingest changed, yet the replica updating by change
    # records reads the killed ingest's document too, and equals a full load.
    writer.write({"doc1.txt": "rail cargo"})
    assert store.changes(store.version() - 1, store.version()) == {"doc1.txt", "killed.txt"}
    assert store.unannounced() == set()
    snap = replica.refresh()
    assert snap is not None and replica.last_load["kind"] == "update"
    assert "killed.txt" in snap.documents and snap.knows_term("quagga")
    _same(snap, SnapshotHolder(store).refresh())  # type: ignore[arg-type]
