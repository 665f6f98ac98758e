"""The evaluation corpora (`evals/corpora/<name>/`) and an engine over each, indexed in its own data dir.

A corpus is a folder holding `documents/` (the corpus root that `source` paths are relative to),
`SOURCES.md` and, once written, `questions.jsonl`. Each corpus is ingested into its own data dir
(`reports/eval-data/<name>` by default); ingest is incremental, so a re-run on unchanged documents
embeds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from verbatim.evals.scoring import Corpus
from verbatim.ingest.index.embedder import Encoder
from verbatim.service.qa.engine import BadRequest, Engine
from verbatim.settings import Settings, get_settings

EVALS = Path(__file__).resolve().parent
REPO = EVALS.parent
CORPORA = EVALS / "corpora"
LEGACY_QUESTIONS = CORPORA / "seeds" / "questions-legacy.jsonl"


@dataclass(frozen=True)
class EvalCorpus:
    """One evaluation corpus: its name, document root and question file (which may not exist yet)."""

    name: str
    root: Path
    questions: Path

    @property
    def has_questions(self) -> bool:
        return self.questions.is_file()


def corpus_named(name: str, questions: Path | None = None) -> EvalCorpus:
    """The corpus `evals/corpora/<name>`, optionally with another question file; ValueError if unknown."""
    folder = CORPORA / name
    if "/" in name or name.startswith(".") or not (folder / "documents").is_dir():
        known = ", ".join(c.name for c in all_corpora(with_questions=False)) or "none"
        raise ValueError(f"unknown corpus {name!r} (known: {known})")
    return EvalCorpus(name, folder / "documents", questions or folder / "questions.jsonl")


def all_corpora(with_questions: bool = True) -> list[EvalCorpus]:
    """Every corpus under evals/corpora, by name; only those with a questions.jsonl unless told."""
    found = [
        EvalCorpus(d.name, d / "documents", d / "questions.jsonl")
        for d in sorted(CORPORA.iterdir())
        if (d / "documents").is_dir()
    ]
    return [c for c in found if c.has_questions or not with_questions]


def corpus_settings(root: Path, data_dir: Path) -> Settings:
    """Settings for an in-process engine over `root`, indexed in `data_dir`, with nothing external.
    Derived model files (the int8 export) are shared by the corpora beside `data_dir`."""
    base = get_settings()
    return Settings(
        **{
            **base.model_dump(),
            "data_dir": data_dir,
            "model_cache_dir": base.model_cache_dir or data_dir.parent / "models",
            "corpus_dir": root,
            "chroma_url": None,
            "api_keys": None,
            "rate_limit": None,
            "log_level": "WARNING",
        }
    )


@dataclass
class OpenCorpus:
    """A corpus with its started engine, the scorer's view of its texts and how long ingest took."""

    corpus: EvalCorpus
    engine: Engine
    texts: Corpus
    ingest_seconds: float
    ingest_summary: str


def served_text(engine: Engine) -> Corpus:
    """The scorer's corpus: text formats from disk, converted formats as the engine serves them."""

    def served(source: str) -> str | None:
        try:
            return engine.document(source).text
        except BadRequest:
            return None

    return Corpus(engine.settings.corpus_dir, served=served)


@contextmanager
def open_corpus(corpus: EvalCorpus, data_dir: Path, encoder: Encoder | None = None) -> Iterator[OpenCorpus]:
    """Ingest the corpus incrementally into `data_dir`, start an engine on it, stop it afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = Engine(corpus_settings(corpus.root, data_dir), encoder=encoder)
    started = time.perf_counter()
    report = engine.ingest(None, wait=600.0)
    seconds = time.perf_counter() - started
    engine.start(bootstrap=False)
    try:
        yield OpenCorpus(corpus, engine, served_text(engine), seconds, report.summary())
    finally:
        engine.stop()
