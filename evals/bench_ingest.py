"""Ingest benchmark: throughput, memory and no-change re-runs on the seeds and a synthetic corpus.

For each corpus (the seeds; a deterministic synthetic corpus of scraped-page-like documents, >= 5 MB)
and each embed runtime, a fresh child process loads the encoder, ingests the corpus into a fresh data
dir and ingests it again unchanged; then `verbatim ingest` itself is timed re-running on that data dir
(a whole process: start-up, model load, manifest check). Peak memory is the child's ru_maxrss. A last
child embeds a sample of chunks with both runtimes and reports the cosine of int8 ONNX to torch vectors.

    python -m evals.bench_ingest [--runtime onnx|torch|both] [--synthetic-mb 5] [--quick]
        [--pdf-pages 200] [--html-mb 1]

Converted formats: a PDF corpus (synthetic pages written with fpdf2, a dev dependency; skipped when it is
not installed) gives pages per second, and an HTML corpus (synthetic pages in a page template with
navigation and footer) gives MB per minute of HTML bytes, each through the same child ingest.

Prints a table and writes reports/bench_ingest.json. "MB" is 10^6 bytes of raw file text.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from verbatim.evals.benchutil import (
    MB,
    REPO,
    REPORTS,
    SEEDS,
    child_env,
    cpu_seconds,
    default_model_cache,
    load_average,
    machine,
    peak_rss_mb,
    table,
    write_report,
)

GOAL_MB_PER_MIN = 3.0
GOAL_RERUN_S = 3.0
GOAL_COSINE = 0.98
CHILD_TIMEOUT_S = 3600

# ----------------------------------------------------------------------------------- synthetic corpus

_SENTENCE = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[A-Z“\"‘(])")
_NUMBER = re.compile(r"\d+")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_CAPITAL = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]{3,}\b")
_FIRST = (
    "Anna",
    "Boris",
    "Carmen",
    "Daniel",
    "Elena",
    "Farid",
    "Gulnara",
    "Hakan",
    "Irina",
    "Jonas",
    "Kamila",
    "Leila",
    "Marat",
    "Nadia",
    "Oleg",
    "Pavel",
    "Rustam",
    "Saule",
    "Timur",
    "Ulrike",
    "Viktor",
    "Yerlan",
    "Zarina",
    "Aziz",
    "Dilnoza",
    "Emil",
    "Sofia",
    "Arman",
    "Lina",
    "Murat",
)
_LAST = (
    "Abenova",
    "Bekov",
    "Castell",
    "Dzhaksybekov",
    "Eriksen",
    "Faizullin",
    "Grigoryan",
    "Haidarov",
    "Ismailova",
    "Jurayev",
    "Karimov",
    "Lindqvist",
    "Mammadov",
    "Nurlanov",
    "Ospanova",
    "Petrosyan",
    "Qodirov",
    "Rahimov",
    "Safarova",
    "Tashkentov",
    "Usmanov",
    "Vardanyan",
    "Wolanski",
    "Yusupova",
    "Zhunusov",
    "Avetisyan",
    "Baimukhamedov",
    "Chen",
    "Demirci",
    "Ergashev",
)
_SYLLABLES = (
    "ka",
    "ri",
    "tal",
    "mor",
    "ven",
    "os",
    "sar",
    "bek",
    "ul",
    "an",
    "dor",
    "zir",
    "mi",
    "la",
    "gu",
    "sha",
    "vel",
    "tor",
    "ne",
    "ya",
)
_SITES = (
    "Caspian Ledger",
    "Steppe Review",
    "Silk Road Monitor",
    "Eurasia Desk",
    "Highland Courier",
    "Transit Weekly",
    "Corridor Analyst",
    "Border Report",
)
_SECTIONS = (
    "Home",
    "News",
    "Analysis",
    "Opinion",
    "Economy",
    "Politics",
    "Energy",
    "Security",
    "Regions",
    "About us",
    "Contact",
    "Archive",
)
_TICKER = ("KGS/USD", "KZT/USD", "TJS/USD", "UZS/USD", "TMT/USD", "AZN/USD", "AMD/USD", "GEL/USD")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_CREDITS = (
    "Credit: Wikimedia Commons",
    "Photo: Reuters",
    "Image source: Shutterstock",
    "Photo credit: press service",
    "Source: Getty Images",
)
_ORGS = (
    "Central Asia-Caucasus Institute",
    "Institute for Regional Studies",
    "Caspian Policy Center",
    "Eurasian Research Network",
    "Centre for Transit Economics",
)


def seed_sentences(seeds: Path = SEEDS) -> list[str]:
    """Body sentences of the seed files (lines long enough to be paragraphs), de-duplicated, in order."""
    out: dict[str, None] = {}
    for path in sorted(seeds.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if len(line.split()) < 20:
                continue
            for sentence in _SENTENCE.split(line):
                sentence = sentence.strip()
                if 40 <= len(sentence) <= 500 and sentence[-1:] in '.!?”"’)':
                    out[sentence] = None
    return list(out)


def _entities(sentences: Sequence[str]) -> list[str]:
    counts: dict[str, int] = {}
    for s in sentences:
        for word in _CAPITAL.findall(s):
            counts[word] = counts.get(word, 0) + 1
    return sorted(w for w, n in counts.items() if n >= 2)


def _fake_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _vary(sentence: str, rng: random.Random, swap: dict[str, str], pattern: re.Pattern[str] | None) -> str:
    """The sentence with its numbers re-drawn (same number of digits) and some proper names swapped."""

    def number(m: re.Match[str]) -> str:
        digits = m.group(0)
        if len(digits) == 4 and digits.startswith(("19", "20")):
            return str(rng.randint(1995, 2026))
        if len(digits) <= 2:  # days of the month, ordinals, small counts stay plausible
            return str(rng.randint(1, 28))
        return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(len(digits) - 1))

    def ordinal(m: re.Match[str]) -> str:
        n = int(m.group(1))
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"

    sentence = _ORDINAL.sub(ordinal, _NUMBER.sub(number, sentence))
    return pattern.sub(lambda m: swap[m.group(0)], sentence) if pattern else sentence


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28):02d} {rng.choice(_MONTHS)} {rng.randint(2019, 2026)}"


def _title(rng: random.Random, sentences: Sequence[str]) -> str:
    words = [w.strip(',.;:“”"()’') for w in rng.choice(sentences).split()]
    words = [w for w in words if w]
    start = rng.randint(0, max(0, len(words) - 8))
    picked = words[start : start + rng.randint(5, 9)]
    return " ".join(w if w[:1].isupper() else w.capitalize() for w in picked)


def _article(rng: random.Random, sentences: Sequence[str], size: int, vary: Callable[[str], str]) -> str:
    """Title, byline, dateline and paragraphs (with a photo credit and an author bio now and then)."""
    author = _person(rng)
    parts = [_title(rng, sentences), ""]
    if rng.random() < 0.75:
        parts += [f"By {author}", ""]
    if rng.random() < 0.5:
        parts += [_date(rng), ""]
    body = 0
    first = rng.randrange(len(sentences))
    while body < size:
        start = (first + rng.randint(0, 40)) % len(sentences) if rng.random() < 0.3 else first
        paragraph = " ".join(vary(sentences[(start + k) % len(sentences)]) for k in range(rng.randint(2, 5)))
        first = (start + 5) % len(sentences)
        parts += [paragraph, ""]
        body += len(paragraph)
        if rng.random() < 0.08:
            parts += [" " * rng.randint(0, 60) + rng.choice(_CREDITS), ""]
    if rng.random() < 0.1:
        parts += [
            "For comments, write to the editors: This email address is being protected from spambots. "
            "You need JavaScript enabled to view it.",
            "",
        ]
    if rng.random() < 0.3:
        parts += [
            f"{author} is a senior fellow at the {rng.choice(_ORGS)}, where {author.split()[0]} "
            f"covers {rng.choice(('trade', 'energy', 'security', 'transport'))} policy.",
            "",
        ]
    return "\n".join(parts)


def synthetic_page(rng: random.Random, sentences: Sequence[str], entities: Sequence[str], size: int) -> str:
    """One scraped-page-like document of about `size` characters."""
    swap = {e: _fake_word(rng) for e in rng.sample(list(entities), k=min(len(entities), 40))}
    pattern = (
        re.compile(r"\b(" + "|".join(map(re.escape, sorted(swap, key=len, reverse=True))) + r")\b")
        if swap
        else None
    )
    site = rng.choice(_SITES)
    lines = [site, "", *rng.sample(_SECTIONS, k=rng.randint(4, 7)), "", "Sign up for our newsletter", ""]
    if rng.random() < 0.3:
        quotes = [
            f"  • {pair} = {rng.uniform(0.00005, 0.5):.5f} {rng.choice(('0%', '-0.18%', '+0.05%'))}"
            for pair in rng.sample(_TICKER, k=5)
        ]
        lines += quotes * rng.randint(4, 8) + [""]
    lines += [_date(rng), ""]
    articles = 1 if rng.random() < 0.7 else rng.randint(2, 3)
    texts = [
        _article(rng, sentences, max(800, size // articles - 400), lambda s: _vary(s, rng, swap, pattern))
        for _ in range(articles)
    ]
    lines += texts
    if rng.random() < 0.1:
        lines += [texts[0]]  # the page holds its article twice
    lines += ["Share this article", "Facebook", "Twitter", "Email", "", "Related articles"]
    lines += [_title(rng, sentences) for _ in range(rng.randint(2, 4))]
    lines += ["", f"© {rng.randint(2019, 2026)} {site}. All rights reserved.", ""]
    return "\n".join(lines)


def make_synthetic_corpus(
    target: Path, megabytes: float, seed: int = 20251205, seeds: Path = SEEDS
) -> dict[str, Any]:
    """Write documents of ~3-10 KB under `target` (a few folders) until `megabytes` MB of text; returns
    {documents, bytes}. The same arguments always give the same bytes."""
    sentences = seed_sentences(seeds)
    entities = _entities(sentences)
    rng = random.Random(seed)
    total = count = 0
    while total < megabytes * MB:
        text = synthetic_page(rng, sentences, entities, rng.randint(3000, 10000))
        path = target / f"site{count % 8:02d}" / f"page_{count:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        total += len(data)
        count += 1
    return {"documents": count, "bytes": total}


def _html_page(text: str, index: int) -> str:
    """A synthetic page as an HTML document: a site template around headings and paragraphs."""
    from html import escape

    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    body = [f"<h1>{escape(blocks[0].splitlines()[0])}</h1>"] if blocks else []
    for block in blocks[1:]:
        lines = block.splitlines()
        if len(lines) > 1 and all(len(line) < 40 for line in lines):
            body.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>")
        elif len(block) < 80 and not block.endswith("."):
            body.append(f"<h2>{escape(block)}</h2>")
        else:
            body.append(f"<p>{escape(block)}</p>")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Page {index}</title></head><body>"
        "<nav><ul><li><a href='/'>Home</a></li><li><a href='/news'>News</a></li>"
        "<li><a href='/about'>About</a></li></ul></nav><main><article>"
        + "\n".join(body)
        + "</article></main><footer><p>All rights reserved.</p></footer></body></html>"
    )


def make_html_corpus(target: Path, megabytes: float, seed: int, seeds: Path = SEEDS) -> dict[str, Any]:
    """HTML pages built from synthetic pages until `megabytes` MB of HTML; {documents, bytes}."""
    sentences = seed_sentences(seeds)
    entities = _entities(sentences)
    rng = random.Random(seed + 1)
    total = count = 0
    target.mkdir(parents=True, exist_ok=True)
    while total < megabytes * MB:
        page = _html_page(synthetic_page(rng, sentences, entities, rng.randint(3000, 10000)), count)
        data = page.encode("utf-8")
        (target / f"page_{count:05d}.html").write_bytes(data)
        total += len(data)
        count += 1
    return {"documents": count, "bytes": total}


def make_pdf_corpus(target: Path, pages: int, seed: int, seeds: Path = SEEDS) -> dict[str, Any] | None:
    """PDFs of 20 pages of synthetic text (fpdf2) until `pages` pages; None without fpdf2."""
    try:
        from fpdf import FPDF
    except ImportError:
        return None
    sentences = seed_sentences(seeds)
    entities = _entities(sentences)
    rng = random.Random(seed + 2)
    target.mkdir(parents=True, exist_ok=True)
    written = count = 0
    plain = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "—": "-", "–": "-", "•": "-", "…": "..."})
    while written < pages:
        pdf = FPDF()
        pdf.set_font("helvetica", size=10)
        for _ in range(min(20, pages - written)):
            pdf.add_page()
            text = synthetic_page(rng, sentences, entities, 2600).translate(plain)
            pdf.multi_cell(0, 5, text.encode("latin-1", "replace").decode("latin-1"))
        written += pdf.pages_count
        (target / f"doc_{count:04d}.pdf").write_bytes(bytes(pdf.output()))
        count += 1
    return {"documents": count, "pages": written}


def corpus_bytes(root: Path) -> tuple[int, int]:
    """(files, bytes) of the readable files under `root`."""
    suffixes = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]
    return len(files), sum(p.stat().st_size for p in files)


# ----------------------------------------------------------------------------------- child processes


def _settings(spec: dict[str, Any]) -> Any:
    from verbatim.settings import Settings

    return Settings(
        data_dir=Path(spec["data_dir"]),
        corpus_dir=Path(spec["corpus"]),
        chroma_url=None,
        collection="verbatim",
        embed_runtime=spec["runtime"],
        model_cache_dir=Path(spec["model_cache"]),
        embed_model=spec.get("embed_model"),
    )


def _timed(stages: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def child_ingest(spec: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: load the encoder, ingest the corpus, ingest it again unchanged."""
    from verbatim.ingest.index.embedder import load_encoder
    from verbatim.ingest.index.store import IndexStore
    from verbatim.ingest.pipeline import Ingestor

    settings = _settings(spec)
    rss_start = peak_rss_mb()
    started = time.perf_counter()
    encoder = load_encoder(settings)
    load_s = time.perf_counter() - started
    rss_loaded = peak_rss_mb()
    store = IndexStore(settings)
    ingestor = Ingestor(settings, encoder, store)
    stages: dict[str, float] = {}
    ingestor._read = _timed(stages, "read", ingestor._read)  # type: ignore[method-assign]
    ingestor.prepare = _timed(stages, "prepare", ingestor.prepare)  # type: ignore[method-assign]
    ingestor.embed = _timed(stages, "embed", ingestor.embed)  # type: ignore[method-assign]
    store.put_chunks = _timed(stages, "store", store.put_chunks)  # type: ignore[method-assign]
    store.commit_documents = _timed(stages, "store", store.commit_documents)  # type: ignore[method-assign]
    cpu0 = cpu_seconds()
    first = ingestor.run()
    cpu1 = cpu_seconds()
    stages["other"] = max(0.0, first.seconds - sum(stages.values()))
    rss_peak = peak_rss_mb()
    second = Ingestor(settings, encoder, store).run()
    return {
        "documents": first.documents,
        "articles": first.articles,
        "chunks": first.chunks,
        "embedded": first.embedded_chunks,
        "skipped": len(first.skipped),
        "seconds": first.seconds,
        "cpu_seconds": cpu1 - cpu0,
        "model_load_s": load_s,
        "stages_s": stages,
        "rss_start_mb": rss_start,
        "rss_after_model_mb": rss_loaded,
        "peak_rss_mb": rss_peak,
        "rerun_s": second.seconds,
        "rerun_embedded": second.embedded_chunks,
        "rerun_unchanged": second.unchanged,
        "dropped_chars": first.dropped_chars,
    }


def child_cosine(spec: dict[str, Any]) -> dict[str, Any]:
    """Embed a deterministic sample of real chunks with int8 ONNX and with torch; compare vectors."""
    import numpy as np

    from verbatim.ingest.chunker import embedding_input
    from verbatim.ingest.document import ParsedDocument
    from verbatim.ingest.formats import read_document
    from verbatim.ingest.index.embedder import bf16_supported, load_encoder
    from verbatim.ingest.index.store import IndexStore
    from verbatim.ingest.pipeline import Ingestor
    from verbatim.ingest.reader import discover

    onnx = load_encoder(_settings({**spec, "runtime": "onnx"}))
    torch = load_encoder(_settings({**spec, "runtime": "torch"}))
    rng = random.Random(7)
    records = []
    for corpus in spec["corpora"]:
        settings = _settings({**spec, "corpus": corpus, "runtime": "onnx"})
        ingestor = Ingestor(settings, onnx, IndexStore(settings))
        files = list(discover([Path(corpus)], Path(corpus)))
        for path in rng.sample(files, k=min(len(files), 40)):
            doc = read_document(path, Path(corpus))
            if isinstance(doc, ParsedDocument):
                records += ingestor.prepare(doc).chunks
    sample = rng.sample(records, k=min(len(records), int(spec["sample"])))
    inputs, spans = [], []
    for r in sample:
        text, offset = embedding_input(r.title, r.text)
        inputs.append(text)
        spans.append([(s - r.start + offset, e - r.start + offset) for s, e in r.sentences])
    a, b = onnx.embed_spans(inputs, spans), torch.embed_spans(inputs, spans)
    chunk_cos = np.array([float(x.vector @ y.vector) for x, y in zip(a, b, strict=True)])
    sent_cos = np.concatenate(
        [
            np.sum(x.span_vectors * y.span_vectors, axis=1)
            for x, y in zip(a, b, strict=True)
            if len(x.span_vectors)
        ]
        or [np.zeros(0)]
    )
    bf16: dict[str, float] = {}
    if bf16_supported():
        c = load_encoder(_settings({**spec, "runtime": "torch-bf16"})).embed_spans(inputs, spans)
        cos = np.array([float(x.vector @ y.vector) for x, y in zip(c, b, strict=True)])
        bf16 = {"bf16_chunk_min": float(cos.min()), "bf16_chunk_mean": float(cos.mean())}
    return {
        **bf16,
        "chunks": len(sample),
        "sentences": int(sent_cos.size),
        "chunk_min": float(chunk_cos.min()),
        "chunk_mean": float(chunk_cos.mean()),
        "chunk_p1": float(np.percentile(chunk_cos, 1)),
        "sentence_min": float(sent_cos.min()) if sent_cos.size else float("nan"),
        "sentence_mean": float(sent_cos.mean()) if sent_cos.size else float("nan"),
    }


def _run_child(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run `kind` in a fresh interpreter (so peak memory is that run's own) and return its JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "verbatim.evals.bench_ingest", f"--child-{kind}", json.dumps(spec)],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child ({kind}) failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _cli_rerun(spec: dict[str, Any]) -> dict[str, Any]:
    """Wall time of `verbatim ingest` on an unchanged, already ingested corpus (a whole new process)."""
    env = child_env(
        data_dir=spec["data_dir"],
        corpus_dir=spec["corpus"],
        embed_runtime=spec["runtime"],
        model_cache_dir=spec["model_cache"],
    )
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "verbatim.cli", "ingest"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.perf_counter() - started
    embedded = re.search(r"\((\d+) embedded this run\)", proc.stdout)
    return {
        "seconds": seconds,
        "returncode": proc.returncode,
        "embedded": int(embedded.group(1)) if embedded else None,
        "error": proc.stderr[-2000:] if proc.returncode else None,
    }


# ----------------------------------------------------------------------------------- the benchmark


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verbatim bench ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--runtime",
        choices=["auto", "onnx", "torch", "torch-bf16", "all"],
        default="auto",
        help="embed runtime(s) to measure (default: auto, the configured default: torch "
        "bf16 where the CPU supports it, else int8 ONNX)",
    )
    parser.add_argument("--synthetic-mb", type=float, default=5.0, help="size of the synthetic corpus in MB")
    parser.add_argument("--pdf-pages", type=int, default=200, help="pages of the PDF corpus (0: none)")
    parser.add_argument("--html-mb", type=float, default=1.0, help="MB of the HTML corpus (0: none)")
    parser.add_argument("--seed", type=int, default=20251205, help="seed of the synthetic corpus")
    parser.add_argument(
        "--cosine-sample",
        type=int,
        default=300,
        help="chunks embedded by both runtimes for the int8-vs-torch cosine (0 = skip)",
    )
    parser.add_argument("--corpus", type=Path, default=SEEDS, help="the small real corpus (default: seeds/)")
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=None,
        help="where the int8 ONNX export is cached (default: the configured one)",
    )
    parser.add_argument("--json", type=Path, default=REPORTS / "bench_ingest.json", help="report path")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    parser.add_argument("--quick", action="store_true", help="seeds only, onnx only, no cosine (smoke test)")
    parser.add_argument("--child-ingest", help=argparse.SUPPRESS)
    parser.add_argument("--child-cosine", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ingest benchmark; 0 when it ran (goals are reported, not enforced)."""
    args = build_parser().parse_args(argv)
    if args.child_ingest:
        print(json.dumps(child_ingest(json.loads(args.child_ingest))))
        return 0
    if args.child_cosine:
        print(json.dumps(child_cosine(json.loads(args.child_cosine))))
        return 0
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return _bench(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="verbatim-bench-ingest-") as tmp:
        return _bench(args, Path(tmp))


def _bench(args: argparse.Namespace, work: Path) -> int:
    runtimes = (
        ["auto"] if args.quick else (["auto", "onnx", "torch"] if args.runtime == "all" else [args.runtime])
    )
    cache = (args.model_cache or default_model_cache()).resolve()
    load_before = load_average()
    corpora: list[tuple[str, Path]] = [("seeds", args.corpus.resolve())]
    synthetic: dict[str, Any] | None = None
    if not args.quick and args.synthetic_mb > 0:
        started = time.perf_counter()
        synthetic = make_synthetic_corpus(work / "synthetic", args.synthetic_mb, args.seed, args.corpus)
        synthetic["generate_s"] = time.perf_counter() - started
        corpora.append(("synthetic", work / "synthetic"))
    formats: dict[str, Any] = {}
    if not args.quick and args.html_mb > 0:
        formats["html"] = make_html_corpus(work / "html", args.html_mb, args.seed, args.corpus)
        corpora.append(("html", work / "html"))
    if not args.quick and args.pdf_pages > 0:
        made = make_pdf_corpus(work / "pdf", args.pdf_pages, args.seed, args.corpus)
        if made is None:
            print("… no fpdf2 installed: no PDF figures", file=sys.stderr, flush=True)
        else:
            formats["pdf"] = made
            corpora.append(("pdf", work / "pdf"))
    runs: list[dict[str, Any]] = []
    for runtime in runtimes:
        for name, corpus in corpora:
            files, size = corpus_bytes(corpus)
            spec = {
                "corpus": str(corpus),
                "data_dir": str(work / f"data-{name}-{runtime}"),
                "runtime": runtime,
                "model_cache": str(cache),
            }
            print(f"… {name} ({files} files, {size / MB:.2f} MB) with {runtime}", file=sys.stderr, flush=True)
            result = _run_child("ingest", spec)
            cli = _cli_rerun(spec)
            minutes = result["seconds"] / 60
            runs.append(
                {
                    "corpus": name,
                    "runtime": runtime,
                    "files": files,
                    "mb": size / MB,
                    **result,
                    "chunks_per_s": result["chunks"] / result["seconds"] if result["seconds"] else 0.0,
                    "mb_per_min": size / MB / minutes if minutes else 0.0,
                    "pages_per_s": (
                        formats["pdf"]["pages"] / result["seconds"]
                        if name == "pdf" and result["seconds"]
                        else None
                    ),
                    "rerun_cli_s": cli["seconds"],
                    "rerun_cli": cli,
                    "load_average": load_average(),
                }
            )
    cosine = None
    if not args.quick and args.cosine_sample > 0:
        print(f"… cosine int8 ONNX vs torch over {args.cosine_sample} chunks", file=sys.stderr, flush=True)
        cosine = _run_child(
            "cosine",
            {
                "corpora": [str(c) for _, c in corpora],
                "data_dir": str(work / "cos"),
                "corpus": str(corpora[0][1]),
                "model_cache": str(cache),
                "runtime": "onnx",
                "sample": args.cosine_sample,
            },
        )
    report = {
        "benchmark": "ingest",
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "model_cache": str(cache),
        "synthetic": synthetic,
        "formats": formats,
        "runs": runs,
        "cosine_int8_vs_torch": cosine,
        "goals": _goals(runs, cosine),
    }
    path = write_report(args.json, report)
    print(render(report))
    print(f"report: {path}")
    return 0


def _goals(runs: list[dict[str, Any]], cosine: dict[str, Any] | None) -> dict[str, Any]:
    goals: dict[str, Any] = {}
    big = [r for r in runs if r["corpus"] == "synthetic"]
    if big:
        goals[f"mb_per_min_synthetic_{big[0]['runtime']}"] = {
            "goal": f">= {GOAL_MB_PER_MIN}",
            "value": big[0]["mb_per_min"],
            "met": big[0]["mb_per_min"] >= GOAL_MB_PER_MIN,
        }
    for runtime in dict.fromkeys(r["runtime"] for r in runs):  # the default runtime (auto) first
        mine = [r for r in runs if r["runtime"] == runtime]
        worst = max(r["rerun_cli_s"] for r in mine)
        goals[f"no_change_rerun_cli_s_{runtime}"] = {
            "goal": f"< {GOAL_RERUN_S}",
            "value": worst,
            "met": worst < GOAL_RERUN_S
            and all(r["rerun_embedded"] == 0 and r["rerun_cli"]["embedded"] == 0 for r in mine),
        }
    if cosine:
        goals["cosine_min_int8_vs_torch"] = {
            "goal": f">= {GOAL_COSINE}",
            "value": cosine["chunk_min"],
            "met": cosine["chunk_min"] >= GOAL_COSINE,
        }
    return goals


def render(report: dict[str, Any]) -> str:
    """The human-readable report."""
    m = report["machine"]
    out = [
        f"Ingest benchmark: {m['cpus']} CPUs, load average {report['load_average_before']} before, "
        f"{report['load_average_after']} after (MB = 10^6 bytes of raw text)"
    ]
    if report["synthetic"]:
        s = report["synthetic"]
        out.append(
            f"synthetic corpus: {s['documents']} documents, {s['bytes'] / MB:.2f} MB, "
            f"generated in {s['generate_s']:.1f} s"
        )
    headers = [
        "corpus",
        "runtime",
        "docs",
        "chunks",
        "MB",
        "seconds",
        "chunks/s",
        "MB/min",
        "peak MB",
        "rerun s",
        "rerun CLI s",
    ]
    rows = [
        [
            r["corpus"],
            r["runtime"],
            r["documents"],
            r["chunks"],
            round(r["mb"], 3),
            r["seconds"],
            r["chunks_per_s"],
            r["mb_per_min"],
            round(r["peak_rss_mb"]),
            r["rerun_s"],
            r["rerun_cli_s"],
        ]
        for r in report["runs"]
    ]
    out += ["", table(headers, rows), ""]
    for r in report["runs"]:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s"].items())
        out.append(
            f"{r['corpus']}/{r['runtime']}: stages (s) {stages}; CPU {r['cpu_seconds']:.1f} s for "
            f"{r['seconds']:.1f} s wall; model load {r['model_load_s']:.1f} s; memory after model "
            f"load {r['rss_after_model_mb']:.0f} MB; rerun embedded {r['rerun_embedded']}, "
            f"CLI rerun embedded {r['rerun_cli']['embedded']}; load average {r['load_average']}"
        )
    c = report["cosine_int8_vs_torch"]
    if c:
        out.append(
            f"int8 ONNX vs torch cosine over {c['chunks']} chunks: min {c['chunk_min']:.4f}, "
            f"p1 {c['chunk_p1']:.4f}, mean {c['chunk_mean']:.4f}; over {c['sentences']} sentence "
            f"vectors: min {c['sentence_min']:.4f}, mean {c['sentence_mean']:.4f}"
        )
        if "bf16_chunk_min" in c:
            out.append(
                f"torch bf16 vs torch fp32 cosine over {c['chunks']} chunks: "
                f"min {c['bf16_chunk_min']:.5f}, mean {c['bf16_chunk_mean']:.5f}"
            )
    for r in report["runs"]:
        if r["corpus"] == "pdf" and r.get("pages_per_s"):
            out.append(
                f"PDF ({r['runtime']}): {report['formats']['pdf']['pages']} pages in {r['seconds']:.1f} s: "
                f"{r['pages_per_s']:.1f} pages/s"
            )
        if r["corpus"] == "html":
            out.append(f"HTML ({r['runtime']}): {r['mb']:.2f} MB of HTML at {r['mb_per_min']:.2f} MB/min")
    for name, g in report["goals"].items():
        out.append(f"goal {name} {g['goal']}: {g['value']:.3f} {'MET' if g['met'] else 'MISSED'}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
