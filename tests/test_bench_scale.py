"""The scale benchmark's quick pieces: the corpus builder, the replication of an index, the report's
SVG, table and docs section (the full benchmark runs servers at scale: not in tests)."""

from __future__ import annotations

import gzip
import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SEEDS, make_settings
from verbatim.evals import bench_scale, scale_corpus, scale_plot, scale_replicate
from verbatim.ingest.index.embedder import Encoder
from verbatim.ingest.index.store import IndexStore
from verbatim.ingest.pipeline import Ingestor

DATA = Path(__file__).parent / "data"
PROSE = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch. "


# ----------------------------------------------------------------------------------- corpus builder


def _prose(n: int, words: str) -> bytes:
    return ((words + " ") + PROSE * n).encode()


def test_collect_takes_distinct_prose_in_order_and_resumes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(_prose(40, "alpha"))
    (src / "dup.txt").write_bytes(_prose(40, "alpha"))  # byte-identical to a.txt
    (src / "tiny.txt").write_bytes(b"too short")
    (src / "binary.txt").write_bytes(b"\x00\x01\x02" * 1000)
    (src / "numbers.txt").write_bytes(b"1234 5678 9012 " * 200)  # not prose
    (src / "b.md.gz").write_bytes(gzip.compress(_prose(40, "beta")))
    (src / "c.rst").write_bytes(_prose(40, "gamma"))
    pool = [
        scale_corpus.Candidate("one", src / "a.txt", "text"),
        scale_corpus.Candidate("one", src / "dup.txt", "text"),
        scale_corpus.Candidate("one", src / "tiny.txt", "text"),
        scale_corpus.Candidate("one", src / "binary.txt", "text"),
        scale_corpus.Candidate("one", src / "numbers.txt", "text"),
        scale_corpus.Candidate("two", src / "b.md.gz", "gzip"),
        scale_corpus.Candidate("two", src / "c.rst", "text"),
    ]
    work = tmp_path / "work"
    first = scale_corpus.collect(work, 1, pool, log=False)  # one document is enough
    assert [f.path for f in first.files] == [str(src / "a.txt")]

    more = scale_corpus.collect(work, 10**9, pool, log=False)  # resumes: a.txt is not taken twice
    assert [Path(f.path).name for f in more.files] == ["a.txt", "b.md.gz", "c.rst"]
    assert more.exhausted and more.next_candidate == len(pool)
    names = [f.name for f in more.files]
    assert names[0].startswith("00000-") and names[1].endswith(".md") and names[2].endswith(".rst")
    assert (work / "text" / names[1]).read_bytes() == _prose(40, "beta")  # decompressed
    reloaded = scale_corpus.TextCorpus.load(work)
    assert [f.name for f in reloaded.files] == names and reloaded.bytes == more.bytes
    assert scale_corpus.origin_summary(more.files) == {
        "one": {"documents": 1, "bytes": more.files[0].bytes},
        "two": {"documents": 2, "bytes": more.files[1].bytes + more.files[2].bytes},
    }


def test_prefix_and_linked_corpus_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    pool = []
    for i in range(4):
        (src / f"{i}.txt").write_bytes(_prose(30, f"doc{i}"))
        pool.append(scale_corpus.Candidate("x", src / f"{i}.txt", "text"))
    work = tmp_path / "work"
    text = scale_corpus.collect(work, 10**9, pool, log=False)
    size = text.files[0].bytes
    two = scale_corpus.prefix(text, size + 1)
    assert [f.name for f in two] == [f.name for f in text.files[:2]]
    folder = scale_corpus.link_corpus(text, two, work / "corpus-small")
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in two)
    for f in two:  # hard links: the text is stored once
        assert (folder / f.name).stat().st_ino == (text.root / f.name).stat().st_ino
    one = scale_corpus.prefix(text, 1)
    scale_corpus.link_corpus(text, one, folder)  # a smaller selection removes the rest
    assert [p.name for p in folder.iterdir()] == [one[0].name]


def test_candidates_put_eval_corpora_first_in_a_fixed_order(tmp_path: Path) -> None:
    evals = tmp_path / "corpora"
    (evals / "c1" / "documents").mkdir(parents=True)
    (evals / "c1" / "documents" / "x.txt").write_bytes(_prose(20, "x"))
    doc = tmp_path / "doc"
    for i in range(30):
        (doc / f"pkg{i}").mkdir(parents=True)
        (doc / f"pkg{i}" / "README.gz").write_bytes(gzip.compress(_prose(20, f"r{i}")))
        (doc / f"pkg{i}" / "copyright").write_bytes(_prose(20, "licence"))
        (doc / f"pkg{i}" / "tool.c").write_bytes(b"int main(void) { return 0; }\n" * 50)
    man = tmp_path / "man"
    (man / "man1").mkdir(parents=True)
    (man / "de" / "man1").mkdir(parents=True)
    (man / "man1" / "tool.1").write_bytes(b".TH TOOL 1\n.SH NAME\ntool \\- does things\n")
    (man / "de" / "man1" / "tool.1").write_bytes(b".TH TOOL 1\n")
    found = scale_corpus.candidates(evals, doc, man)
    again = scale_corpus.candidates(evals, doc, man)
    assert found == again
    assert found[0] == scale_corpus.Candidate("eval-corpora", evals / "c1" / "documents" / "x.txt", "copy")
    rest = [(c.origin, c.path.name) for c in found[1:] if c.origin != "site-packages"]
    assert sorted(rest) == sorted([("usr-share-doc", "README.gz")] * 30 + [("man-pages", "tool.1")])
    readmes = [c.path.parent.name for c in found if c.path.name == "README.gz"]
    assert readmes != sorted(readmes)  # shuffled, so every prefix mixes the kinds of text


# ----------------------------------------------------------------------------------- replication


@pytest.fixture
def tiny_index(tmp_path: Path, encoder: Encoder) -> Path:
    """An embedded index of two seed articles and one HTML page (a converted format with stored text)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in sorted(p.name for p in SEEDS.glob("*.txt"))[:2]:
        shutil.copy(SEEDS / name, corpus / name)
    shutil.copy(DATA / "policy-ch-docs.html", corpus / "policy-ch-docs.html")
    settings = make_settings(tmp_path / "base", corpus)
    report = Ingestor(settings, encoder, IndexStore(settings)).run()
    assert report.indexed == 3 and not report.skipped
    return tmp_path / "base"


def test_replication_multiplies_the_index_under_new_names(tmp_path: Path, tiny_index: Path) -> None:
    derived = tmp_path / "derived"
    scale_replicate.seed_from(tiny_index, derived)
    settings = make_settings(derived)
    before = IndexStore(settings)
    base_manifest = before.manifest()
    base_chunks = {c.chunk_id: c for c in before.load_chunks(base_manifest)}
    version = before.version()

    result = scale_replicate.replicate(settings, copies=3, group_chunks=20)
    store = IndexStore(settings)
    manifest = store.manifest()
    chunks = store.load_chunks(manifest)
    assert result.base_documents == 3 and result.documents == 9 == len(manifest)
    assert result.chunks == 3 * len(base_chunks) == len(chunks) == store.count()
    assert result.written_chunks == 2 * len(base_chunks) and result.swept == 0
    assert store.version() == version + 1
    assert len({c.chunk_id for c in chunks}) == len(chunks)  # every id distinct
    for source, record in base_manifest.items():
        for k in (1, 2):
            copy = manifest[f"copy-{k}/{source}"]
            assert (copy.sha256, copy.chunks, copy.chars, copy.format) == (
                record.sha256,
                record.chunks,
                record.chars,
                record.format,
            )
        if record.format != "text":  # converted: the copies serve the stored extracted text too
            assert store.get_text(record.sha256, record.pipeline)
    by_key = {(c.source, c.start, c.end): c for c in chunks}
    for original in base_chunks.values():
        for k in (1, 2):
            copy = by_key[(f"copy-{k}/{original.source}", original.start, original.end)]
            assert copy.text == original.text and copy.sentences == original.sentences
            assert np.allclose(copy.sentence_vectors, original.sentence_vectors, atol=0.02)
            assert math.isclose(float(np.linalg.norm(copy.vector)), 1.0, rel_tol=1e-4)
            cosine = float(copy.vector @ original.vector)
            assert 0.9 < cosine < 0.9999  # perturbed, not identical
    # Resumable: nothing left to write; a copy whose manifest record is missing is written again alone.
    missing = f"copy-2/{sorted(base_manifest)[0]}"
    store.forget_document(missing)
    again = scale_replicate.replicate(settings, copies=3, group_chunks=20)
    assert again.written_documents == 1
    assert again.written_chunks == base_manifest[sorted(base_manifest)[0]].chunks
    assert again.chunks == result.chunks and again.documents == 9
    assert scale_replicate.replicate(settings, copies=3).written_chunks == 0


def test_seeding_an_existing_derived_index_keeps_it(tmp_path: Path, tiny_index: Path) -> None:
    derived = tmp_path / "derived"
    scale_replicate.seed_from(tiny_index, derived)
    marker = derived / "chroma" / "marker"
    marker.write_text("kept")
    scale_replicate.seed_from(tiny_index, derived)  # an existing derived index is resumed, not recopied
    assert marker.read_text() == "kept" and not (derived / "chroma.partial").exists()


# ----------------------------------------------------------------------------------- report


def _result(size: int, chunks: int, rss: float, change: float, kind: str = "real") -> dict[str, object]:
    phases = [
        {"endpoint": e, "concurrency": c, "p50": 10.0 * c, "p99": 30.0 * c, "rps": 50.0 / c, "errors": 0}
        for e in ("/search", "/ask")
        for c in (1, 8)
    ]
    return {
        "size": size,
        "kind": kind,
        "label": f"{size} built somehow",
        "chunks": chunks,
        "documents": chunks // 10,
        "disk_bytes": chunks * 5000,
        "build_s": 12.5,
        "cold_start_s": chunks / 1000,
        "rss_ready_mb": 300 + rss,
        "rss_after_load_mb": 400 + rss,
        "rss_beyond_empty_mb": rss,
        "bytes_per_chunk_beyond_empty": rss * 1e6 / chunks,
        "phases": phases,
        "change": {"median_s": change, "runs": [{}, {}, {}]},
        "errors": 0,
    }


def test_svg_has_one_series_per_curve_and_skips_missing_points() -> None:
    results = [
        _result(10_000, 10_234, 340.0, 1.5),
        _result(100_000, 100_345, 3400.0, float("nan")),  # a change that timed out: no point
        _result(1_000_000, 1_003_450, 34000.0, 20.0, "derived"),
    ]
    root = ET.fromstring(bench_scale.svg(results))
    assert root.tag.endswith("svg")
    groups = {g.get("data-name"): g for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert set(groups) == {
        "RSS beyond empty index, MB",
        "cold start, s",
        "restart (saved lexical index), s",
        "one-file change served, s",
        "/ask p50 at concurrency 1, ms",
    }
    circles = {n: len(list(g.iter("{http://www.w3.org/2000/svg}circle"))) for n, g in groups.items()}
    assert circles["RSS beyond empty index, MB"] == 3 and circles["one-file change served, s"] == 2
    rss = groups["RSS beyond empty index, MB"]
    ys = [float(c.get("cy", "nan")) for c in rss.iter("{http://www.w3.org/2000/svg}circle")]
    xs = [float(c.get("cx", "nan")) for c in rss.iter("{http://www.w3.org/2000/svg}circle")]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # more chunks: right; more MB: up
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "1 M" in texts and "10 k" in texts
    with pytest.raises(ValueError):
        scale_plot.render_svg([1.0], {"none": [float("nan")]}, "empty")


def test_table_row_and_docs_section(tmp_path: Path) -> None:
    results = [_result(10_000, 10_234, 340.0, 1.5), _result(1_000_000, 1_003_450, 34000.0, 20.0, "derived")]
    row = bench_scale.row(results[1])
    assert len(row) == len(bench_scale.HEADERS)
    assert row[0] == "1 M (derived)" and row[1] == 1_003_450 and row[11] == 10.0 and row[13] == 50.0 / 8
    report = {
        "machine": {"cpus": 2, "python": "3.11", "platform": "Linux", "load_average": [1.0]},
        "results": results,
        "origins": {"man-pages": {"documents": 3, "bytes": 2_000_000}},
    }
    body = bench_scale.docs_section(report)
    assert "| 1 M (derived) | 1,003,450 |" in body and "1000000 built somehow" in body
    assert scale_corpus.ORIGINS["man-pages"] in body and "2 CPUs" in body

    doc = tmp_path / "scaling.md"
    scale_plot.update_section(doc, "first")
    assert doc.read_text() == f"# Scaling\n\n{scale_plot.BEGIN}\nfirst\n{scale_plot.END}\n"
    doc.write_text("# Scaling\n\nDesign text.\n\n" + doc.read_text().split("\n\n", 1)[1] + "\nMore text.\n")
    scale_plot.update_section(doc, "second")
    text = doc.read_text()
    assert "Design text." in text and "More text." in text and "second" in text and "first" not in text
    plain = tmp_path / "plain.md"
    plain.write_text("# Title\n\nHand-written.\n")
    scale_plot.update_section(plain, "generated")
    assert plain.read_text().startswith("# Title\n\nHand-written.\n\n" + scale_plot.BEGIN)


def test_dev_questions_only_and_interleaved(tmp_path: Path) -> None:
    files = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.jsonl"
        items = [{"question": f"{name}{i}?", "split": "dev" if i != 1 else "test"} for i in range(3)]
        path.write_text("\n".join(json.dumps(item) for item in items))
        files.append(path)
    assert bench_scale.dev_questions(files) == ["a0?", "b0?", "a2?", "b2?"]


def test_sizes_are_parsed_and_checked() -> None:
    assert bench_scale.parse_sizes("100000,10_000, 10000") == [10_000, 100_000]
    for bad in ("ten", "0", ""):
        with pytest.raises(Exception, match="--sizes"):
            bench_scale.parse_sizes(bad)


def test_labels_say_how_each_size_was_built() -> None:
    derived = {"kind": "derived", "size": 1_000_000, "copies": 10, "replication": {"base_chunks": 101_234}}
    assert bench_scale.label_of(derived) == (
        "1 M = the 101,234 real chunks x 10 under distinct source names, vectors perturbed; no encoder"
    )
    real = {"kind": "real", "size": 10_000, "resumed": True}
    assert bench_scale.label_of(real).startswith("10 k: real text, real embeddings")
    assert "resumed" in bench_scale.label_of(real)
