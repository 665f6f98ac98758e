"""A question set is only useful if every gold span really is in the corpus: check that here.

The validator (`evals/validate_questions.py`) runs over every corpus with a questions.jsonl; the legacy
seed questions (written with the system, evals/README.md) keep their own, older checks below."""

from __future__ import annotations

import bisect
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from verbatim.evals.scoring import KINDS, Corpus, answer_in_text, evidence_spans, load_questions  # noqa: E402

SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "evals" / "corpora" / "seeds" / "questions-legacy.jsonl"

# Where each article starts, by a marker that opens it (000 repeats its one article).
ARTICLE_MARKERS: dict[str, list[str]] = {
    "000_471aab2a35820a5e.txt": ["Armenia and Azerbaijan edge closer to peace"],
    "001_9cfcfe3f674856fa.txt": ["Aliyev, Tokayev Pledge Deeper Cooperation"],
    "002_89366930e8a4c876.txt": [
        "By Eduard Abrahamyan",
        "By Emil Avdaliani",
        "By Vali Kaleji",
        "By\u00a0Nargiza Umarova",  # the byline uses a no-break space
    ],
    "003_2965303afe5faa20.txt": [
        "Aliyev–Tokayev Talks Rekindle Momentum",
        "Kazakhstan Backs Trump’s Gaza Peace Initiative",
        "Opinion: Washington Meeting and the Shifting Geopolitics",
        "Astana’s Delicate Role in Ukraine Peace Efforts",
        "How Could the Armenia-Azerbaijan Peace Accord Benefit Central Asia?",
        "Armenia’s PM to Visit Kazakhstan",
    ],
    "004_fb0761cbcaf37eb0.txt": ["Kazakhstan Works with Armenia and Azerbaijan"],
}


def _read(name: str) -> str:
    with open(SEEDS / name, encoding="utf-8", newline="") as fh:
        return fh.read()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with open(QUESTIONS, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _sources(row: dict) -> list[str]:
    return [row["source"]] if isinstance(row["source"], str) else list(row["source"])


def test_fields_ids_kinds_and_splits(rows: list[dict]) -> None:
    for row in rows:
        assert set(row) == {"id", "question", "answers", "evidence", "source", "kind", "split"}, row["id"]
        assert re.fullmatch(r"q\d{3}", row["id"]), row["id"]
        assert row["kind"] in KINDS, row["id"]
        assert row["split"] in ("dev", "test"), row["id"]
        assert row["question"].strip().endswith("?"), row["id"]
        assert all(isinstance(a, str) and a.strip() for a in row["answers"]), row["id"]
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), [i for i, c in Counter(ids).items() if c > 1]


def test_size_and_mix(rows: list[dict]) -> None:
    assert len(rows) >= 80
    kinds = Counter(row["kind"] for row in rows)
    assert set(kinds) == set(KINDS)
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    assert len(unanswerable) >= 15
    assert all(r["answers"] == [] and r["evidence"] == [] for r in unanswerable)
    assert kinds["noise"] >= 3
    assert all(len(r["evidence"]) >= 2 for r in rows if r["kind"] == "multi")


# q001–q201 were split by alternation within each (kind, file) group; the questions added after
# them (off-topic and under-represented kinds, evals/README.md) went to dev only, so test is unchanged.
FIRST_DEV_ONLY = 202


def test_splits_are_present_and_stratified(rows: list[dict]) -> None:
    stratified = [r for r in rows if int(r["id"][1:]) < FIRST_DEV_ONLY]
    splits = Counter(row["split"] for row in stratified)
    assert splits["dev"] and splits["test"]
    assert abs(splits["dev"] - splits["test"]) <= 0.1 * len(stratified)
    assert all(r["split"] == "dev" for r in rows if int(r["id"][1:]) >= FIRST_DEV_ONLY)
    for kind in KINDS:
        per = Counter(r["split"] for r in rows if r["kind"] == kind)
        assert per["dev"] and per["test"], kind


def test_every_seed_file_exists_and_sources_are_known(rows: list[dict]) -> None:
    names = {p.name for p in SEEDS.iterdir() if p.is_file()}
    assert set(ARTICLE_MARKERS) <= names
    for row in rows:
        assert set(_sources(row)) <= names, row["id"]


def test_evidence_is_verbatim_in_its_sources(rows: list[dict]) -> None:
    texts = {name: _read(name) for name in ARTICLE_MARKERS}
    problems = []
    for row in rows:
        for evidence in row["evidence"]:
            if not any(evidence in texts[s] for s in _sources(row)):
                problems.append((row["id"], evidence[:60]))
    assert not problems


def test_answerable_rows_have_evidence_and_answers_occur_in_it(rows: list[dict]) -> None:
    for row in rows:
        if not row["answers"]:
            assert row["evidence"] == [], row["id"]
            continue
        assert row["evidence"], row["id"]
        joined = " \n ".join(row["evidence"])
        for answer in row["answers"]:
            assert answer_in_text(answer, joined), (row["id"], answer)


def test_every_file_and_article_is_covered() -> None:
    corpus = Corpus(SEEDS)
    starts: dict[str, list[int]] = {}
    for name, markers in ARTICLE_MARKERS.items():
        text = _read(name)
        offsets = [text.find(m) for m in markers]
        assert -1 not in offsets, name
        starts[name] = offsets
    covered: dict[tuple[str, int], int] = defaultdict(int)
    for q in load_questions(QUESTIONS, split="all"):
        if not q.answerable:
            continue
        for span in evidence_spans(q, corpus):
            article = max(bisect.bisect_right(starts[span.source], span.start) - 1, 0)
            covered[(span.source, article)] += 1
    for name, markers in ARTICLE_MARKERS.items():
        for i, marker in enumerate(markers):
            assert covered[(name, i)] >= 2, f"{name}: article {marker!r} has too few questions"


def test_unanswerable_questions_per_file(rows: list[dict]) -> None:
    files = Counter(s for r in rows if r["kind"] == "unanswerable" for s in _sources(r))
    assert set(files) == set(ARTICLE_MARKERS)


def test_load_questions_splits_partition_the_set(rows: list[dict]) -> None:
    dev = load_questions(QUESTIONS, split="dev")
    test = load_questions(QUESTIONS, split="test")
    everything = load_questions(QUESTIONS, split="all")
    assert len(dev) + len(test) == len(everything) == len(rows)
    assert not {q.id for q in dev} & {q.id for q in test}
    with pytest.raises(ValueError):
        load_questions(QUESTIONS, split="train")  # type: ignore[arg-type]


def test_duplicated_article_yields_two_evidence_spans() -> None:
    corpus = Corpus(SEEDS)
    q = next(q for q in load_questions(QUESTIONS, split="all") if q.sources == ["000_471aab2a35820a5e.txt"])
    spans = evidence_spans(q, corpus)
    assert len(spans) == 2 * len(q.evidence)
    text = _read("000_471aab2a35820a5e.txt")
    assert all(text[s.start : s.end] in q.evidence for s in spans)


# ------------------------------------------------------------------- the validator, on every corpus

from verbatim.evals.suite import all_corpora  # noqa: E402
from verbatim.evals.validate_questions import is_paraphrase, main, validate  # noqa: E402

WITH_QUESTIONS = all_corpora()


@pytest.mark.parametrize("corpus", WITH_QUESTIONS, ids=[c.name for c in WITH_QUESTIONS])
def test_every_corpus_question_set_validates(corpus) -> None:  # type: ignore[no-untyped-def]
    """Evidence in formats no reader handles yet is skipped (a warning), never counted as found."""
    result = validate(corpus.root.parent)
    not_extractive = [e for e in result.errors if "answer(s) occurs in its evidence" in e]
    others = [e for e in result.errors if e not in not_extractive]
    assert not others, "\n".join(others[:30])
    if not_extractive:  # a known problem of the question set, for its writers: visible, not hidden
        pytest.xfail(
            f"{len(not_extractive)} questions have no answer inside their evidence (evals/README.md)"
        )


def _line(**kw: object) -> str:
    row = {
        "id": "q1",
        "question": "Which port got the loan?",
        "answers": ["Aktau"],
        "evidence": ["The port of Aktau got a loan."],
        "source": "a.txt",
        "kind": "fact",
        "split": "dev",
    }
    return json.dumps({**row, **kw})


def _corpus(tmp_path: Path, lines: list[str], files: dict[str, str] | None = None) -> Path:
    docs = tmp_path / "c" / "documents"
    docs.mkdir(parents=True)
    for name, text in (files or {"a.txt": "Header\nThe port of Aktau got a loan.\nIt was\nlarge.\n"}).items():
        (docs / name).write_text(text, encoding="utf-8", newline="")
    (tmp_path / "c" / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path / "c"


def test_validator_accepts_a_good_set_and_measures_shares(tmp_path: Path) -> None:
    lines = [
        _line(id="q1"),
        _line(id="q2", question="where did money go to upgrade a harbour", split="test"),
        _line(id="q3", question="What did the loan cost?", answers=[], evidence=[], kind="unanswerable"),
    ]
    result = validate(_corpus(tmp_path, lines), min_paraphrase=0.3)
    assert result.ok, result.errors
    assert result.unanswerable_share == pytest.approx(1 / 3)
    assert result.paraphrase_share == 1.0
    assert main([str(tmp_path / "c")]) == 0
    strict = validate(tmp_path / "c", min_paraphrase=1.01)
    assert any("paraphrased" in e for e in strict.errors)


def test_validator_reports_every_kind_of_error(tmp_path: Path) -> None:
    lines = [
        _line(id="q1"),
        _line(id="q1"),  # duplicate id
        "not json",
        _line(id="q3", kind="trivia"),
        _line(id="q4", split="train"),
        _line(id="q5", evidence=["The port of Aktau got a  loan."]),  # not byte-exact in a .txt
        _line(id="q6", answers=["Baku"]),  # answer not in evidence
        _line(id="q7", source="missing.txt"),
        _line(id="q8", kind="unanswerable"),  # has answers
        _line(id="q9", evidence=[]),  # answerable without evidence
        json.dumps({"id": "q10", "question": "?"}),
        _line(id="q11", question="Which port got the loan?", split="test"),  # duplicate of q1 across splits
    ]
    result = validate(_corpus(tmp_path, lines))
    text = "\n".join(result.errors)
    for needle in [
        "duplicate id 'q1'",
        "not JSON",
        "kind 'trivia'",
        "split 'train'",
        "q5: evidence not found",
        "q6: none of its 1 answer(s)",
        "q7: source 'missing.txt'",
        "q8: kind unanswerable but has answers",
        "q9: answerable but no evidence",
        "missing field(s)",
        "q1 and q11 are near-duplicates",
        "unanswerable (at least 20%)",
    ]:
        assert needle in text, needle
    assert main([str(tmp_path / "c")]) == 1


def test_paraphrase_means_no_shared_four_word_run() -> None:
    from verbatim.evals.scoring import Question

    base = {
        "id": "x",
        "answers": ["Aktau"],
        "evidence": ["The port of Aktau got a loan."],
        "source": "a.txt",
        "kind": "fact",
    }
    assert not is_paraphrase(
        Question.model_validate({**base, "question": "Is it so that the port of Aktau got a loan?"})
    )
    assert is_paraphrase(Question.model_validate({**base, "question": "Which harbour was lent money?"}))


def test_converted_formats_are_matched_loosely_or_skipped_until_a_reader_exists(tmp_path: Path) -> None:
    lines = [
        _line(id="q1", source="page.zzz", evidence=["Aktau, anything at all"]),
        _line(
            id="q2",
            question="What did it cost?",
            answers=[],
            evidence=[],
            kind="unanswerable",
            source="page.zzz",
        ),
    ]
    result = validate(_corpus(tmp_path, lines, {"page.zzz": "<p>x</p>"}), min_paraphrase=0)
    assert result.ok, result.errors
    assert result.unchecked == 1 and any("not checkable yet" in w for w in result.warnings)
