"""Each metric on tiny hand-made corpora and responses whose expected scores are worked out by hand."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from verbatim.evals.scoring import (  # noqa: E402
    Citation,
    EvalReport,
    Question,
    Thresholds,
    answer_in_text,
    bootstrap_ci,
    check_sentence_support,
    is_quote_covered,
    normalize_text,
    render_markdown,
    score_run,
    split_sentences,
    token_f1,
)

DOC = "doc.txt"
TEXT = (
    "Transit news\n"
    "Azerbaijan lifted all restrictions on the transit of goods to Armenia.\n"
    "Trade turnover exceeded $550 million in 2024, officials said.\n"
    "The wheat shipment weighed 1,000 tons.\n"
    "Unrelated closing remarks about the weather.\n"
)
DUP = "dup.txt"
DUP_TEXT = "Header\nThe port of Aktau got a loan.\nMiddle\nThe port of Aktau got a loan.\nEnd\n"

S_LIFT = "Azerbaijan lifted all restrictions on the transit of goods to Armenia."
S_TRADE = "Trade turnover exceeded $550 million in 2024, officials said."
S_WHEAT = "The wheat shipment weighed 1,000 tons."
S_TAIL = "Unrelated closing remarks about the weather."


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    (tmp_path / DOC).write_text(TEXT, encoding="utf-8", newline="")
    (tmp_path / DUP).write_text(DUP_TEXT, encoding="utf-8", newline="")
    return tmp_path


def span(sentence: str, text: str = TEXT) -> tuple[int, int]:
    start = text.index(sentence)
    return start, start + len(sentence)


def passage(sentence: str, source: str = DOC, text: str = TEXT) -> dict[str, Any]:
    start, end = span(sentence, text)
    return {
        "chunk_id": f"{source}:{start}",
        "source": source,
        "title": "T",
        "start": start,
        "end": end,
        "text": sentence,
        "score": 0.5,
    }


def citation(n: int, sentence: str, quote: str | None = None, source: str = DOC) -> dict[str, Any]:
    start, end = span(sentence)
    return {
        "n": n,
        "source": source,
        "title": "T",
        "quote": sentence if quote is None else quote,
        "start": start,
        "end": end,
        "chunk_id": "c",
        "score": 0.5,
    }


def question(
    qid: str, answers: list[str], evidence: list[str], kind: str = "fact", source: str = DOC
) -> Question:
    return Question(
        id=qid, question="?", answers=answers, evidence=evidence, source=source, kind=kind, split="dev"
    )


def response(answer: str = "", abstained: bool = False, citations=(), passages=()) -> dict[str, Any]:
    return {
        "answer": answer,
        "abstained": abstained,
        "backend": "extractive",
        "citations": list(citations),
        "passages": list(passages),
        "timings_ms": {},
    }


# --------------------------------------------------------------------------- normalisation / answers


@pytest.mark.parametrize(
    ("gold", "text"),
    [
        ("1,000 tons", "about 1000 tons of wheat"),
        ("1000", "1,000 tons"),
        ("$550 million", "more than 550 million"),
        ("US$ 12.4 billion", "a record $12.4 billion"),
        ("15–18 days", "takes 15-18 days"),
        ("20%", "grew 20 percent"),
        ("ten meters", "exploded 10 meters away"),
        ("Agarak–Nordooz", "the Agarak-Nordooz checkpoint"),
        ("Taliban's seizure of power", "the Taliban’s seizure of power"),
    ],
)
def test_answer_in_text_normalises_number_formats(gold: str, text: str) -> None:
    assert answer_in_text(gold, text)


def test_answer_in_text_needs_whole_tokens() -> None:
    assert not answer_in_text("55", "550 million")
    assert not answer_in_text("12.4", "124 billion")
    assert not answer_in_text("", "anything")
    assert normalize_text("The U.S. paid US$2,500,000.") == "u s paid 2500000"


def test_token_f1_squad_style() -> None:
    assert token_f1("Azerbaijan lifted restrictions [1]", "Azerbaijan") == pytest.approx(0.5)
    assert token_f1("“1,000 tons” [2]", "1000 tons") == 1.0
    assert token_f1("nothing relevant", "Azerbaijan") == 0.0


# --------------------------------------------------------------------------- retrieval


def test_recall_mrr_ndcg(corpus: Path) -> None:
    q = question("q1", ["Azerbaijan"], [S_LIFT])
    resp = response(passages=[passage(S_TAIL), passage(S_LIFT), passage(S_TRADE)])
    report = score_run([q], {"q1": resp}, corpus)
    assert report.ks == [1, 3]  # three passages returned: recall@5/@10 are not reported
    m = report.metrics
    assert m["evidence_recall_at_1"].value == 0.0
    assert m["evidence_recall_at_3"].value == 1.0
    assert "evidence_recall_at_5" not in m
    assert m["mrr"].value == pytest.approx(0.5)
    assert m["ndcg_at_10"].value == pytest.approx(1 / math.log2(3))
    assert m["evidence_recall_at_1"].failing == ["q1"]
    assert m["evidence_recall_at_3"].failing == []


def test_partial_overlap_counts_and_duplicate_evidence_raises_ideal_dcg(corpus: Path) -> None:
    # The evidence occurs twice in dup.txt, so the ideal DCG has two relevant slots.
    sentence = "The port of Aktau got a loan."
    q = question("d1", ["Aktau"], [sentence], source=DUP)
    first = DUP_TEXT.index(sentence)
    overlapping = {
        "chunk_id": "x",
        "source": DUP,
        "start": first + 5,
        "end": first + 40,
        "text": DUP_TEXT[first + 5 : first + 40],
    }
    report = score_run([q], {"d1": response(passages=[overlapping])}, corpus)
    assert report.metrics["evidence_recall_at_1"].value == 1.0
    assert report.metrics["ndcg_at_10"].value == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert len(report.questions[0].evidence_spans) == 2


def test_missing_evidence_is_an_error(corpus: Path) -> None:
    q = question("bad", ["x"], ["this sentence is not in the corpus"])
    with pytest.raises(ValueError, match="evidence not found"):
        score_run([q], {"bad": response()}, corpus)


# --------------------------------------------------------------------------- answers


def test_answer_hit_uses_answer_text_and_quotes(corpus: Path) -> None:
    qs = [
        question("a1", ["1000 tons"], [S_WHEAT]),
        question("a2", ["$550 million"], [S_TRADE]),
        question("a3", ["Azerbaijan"], [S_LIFT]),
    ]
    responses = {
        "a1": response(
            "“The wheat shipment weighed 1,000 tons.” [1]",
            citations=[citation(1, S_WHEAT)],
            passages=[passage(S_WHEAT)],
        ),
        # the gold answer appears only in the cited quote, not in the answer text
        "a2": response(
            "See the trade figures [1].", citations=[citation(1, S_TRADE)], passages=[passage(S_TRADE)]
        ),
        "a3": response("The documents do not say.", passages=[passage(S_TAIL)]),
    }
    report = score_run(qs, responses, corpus)
    assert report.metrics["answer_hit_rate"].value == pytest.approx(2 / 3)
    assert report.metrics["answer_hit_rate"].failing == ["a3"]
    f1 = {s.id: s.scores["token_f1"] for s in report.questions}
    assert f1["a3"] == 0.0 and f1["a1"] > 0


# --------------------------------------------------------------------------- grounding


def test_quote_exactness_catches_bad_offsets_and_quotes_outside_passages(corpus: Path) -> None:
    q = question("g1", ["Azerbaijan"], [S_LIFT])
    good = citation(1, S_LIFT)
    wrong_quote = citation(2, S_LIFT, quote="Azerbaijan lifted some restrictions on the transit of goods.")
    outside = citation(3, S_TRADE)  # exact text, but no returned passage contains it
    resp = response(f"“{S_LIFT}” [1]", citations=[good, wrong_quote, outside], passages=[passage(S_LIFT)])
    report = score_run([q], {"g1": resp}, corpus)
    assert report.metrics["quote_exactness"].value == pytest.approx(1 / 3)
    assert report.metrics["quote_exactness"].failing == ["g1"]
    notes = " ".join(report.questions[0].notes)
    assert "[2] quote != corpus" in notes and "[3] span" in notes
    assert report.metrics["passage_exactness"].value == 1.0


def test_quote_exactness_rejects_offsets_beyond_the_file_and_unknown_sources(corpus: Path) -> None:
    q = question("g2", ["Azerbaijan"], [S_LIFT])
    beyond = {**citation(1, S_LIFT), "start": 10_000, "end": 10_010}
    unknown = {**citation(2, S_LIFT), "source": "../etc/passwd"}
    report = score_run(
        [q], {"g2": response("x", citations=[beyond, unknown], passages=[passage(S_LIFT)])}, corpus
    )
    assert report.metrics["quote_exactness"].value == 0.0


def test_passage_exactness_flags_rewritten_text(corpus: Path) -> None:
    q = question("p1", ["Azerbaijan"], [S_LIFT])
    rewritten = {**passage(S_LIFT), "text": S_LIFT.replace("  ", " ").lower()}
    report = score_run([q], {"p1": response(passages=[rewritten, passage(S_TAIL)])}, corpus)
    assert report.metrics["passage_exactness"].value == pytest.approx(0.5)


def test_citation_precision_and_recall(corpus: Path) -> None:
    qs = [question("c1", ["Azerbaijan"], [S_LIFT]), question("c2", ["1,000 tons"], [S_WHEAT])]
    responses = {
        # one citation on the evidence, one off-topic
        "c1": response(
            f"“{S_LIFT}” [1] “{S_TAIL}” [2]",
            citations=[citation(1, S_LIFT), citation(2, S_TAIL)],
            passages=[passage(S_LIFT), passage(S_TAIL)],
        ),
        # cites only an off-topic passage
        "c2": response(f"“{S_TRADE}” [1]", citations=[citation(1, S_TRADE)], passages=[passage(S_TRADE)]),
    }
    report = score_run(qs, responses, corpus)
    assert report.metrics["citation_precision"].value == pytest.approx(1 / 3)
    assert report.metrics["citation_recall"].value == pytest.approx(0.5)
    assert report.metrics["citation_recall"].failing == ["c2"]


def test_citation_quoting_the_answer_counts_as_precise_even_off_evidence(corpus: Path) -> None:
    # Gold evidence is the trade sentence, but a citation elsewhere that contains the answer is fine.
    q = question("c3", ["Azerbaijan"], [S_TRADE])
    resp = response(f"“{S_LIFT}” [1]", citations=[citation(1, S_LIFT)], passages=[passage(S_LIFT)])
    report = score_run([q], {"c3": resp}, corpus)
    assert report.metrics["citation_precision"].value == 1.0
    assert report.metrics["citation_recall"].value == 0.0


def test_split_sentences_keeps_markers_and_quotes_together() -> None:
    extractive = "“Peace is here,” he declared. [1] “Restrictions … have been lifted.” [2]"
    assert split_sentences(extractive) == [
        "“Peace is here,” he declared. [1]",
        "“Restrictions … have been lifted.” [2]",
    ]
    model = "The U.S. hosted talks on August 8 [1]. Turnover rose [2], officials said. Nothing else."
    assert split_sentences(model) == [
        "The U.S. hosted talks on August 8 [1].",
        "Turnover rose [2], officials said.",
        "Nothing else.",
    ]
    assert split_sentences("[1]") == []


def test_quote_coverage_of_extractive_and_model_answers(corpus: Path) -> None:
    cites = {1: Citation(**citation(1, S_LIFT)), 2: Citation(**citation(2, S_TRADE))}
    assert is_quote_covered(f"“{S_LIFT}” [1]", cites)
    assert is_quote_covered("“Azerbaijan lifted all restrictions … to Armenia.” [1]", cites)
    assert not is_quote_covered("Azerbaijan removed every restriction [1].", cites)  # paraphrase
    assert not is_quote_covered(f"“{S_LIFT}”", cites)  # no marker
    assert not is_quote_covered(f"“{S_LIFT}” [2]", cites)  # cites the wrong quote
    q = question("v1", ["Azerbaijan"], [S_LIFT])
    answer = f"“{S_LIFT}” [1] Azerbaijan removed every restriction [1]."
    resp = response(answer, citations=[citation(1, S_LIFT)], passages=[passage(S_LIFT)])
    report = score_run([q], {"v1": resp}, corpus)
    assert report.metrics["quote_coverage"].value == pytest.approx(0.5)


def test_sentence_support_rules() -> None:
    cites = {1: Citation(**citation(1, S_TRADE)), 2: Citation(**citation(2, S_LIFT))}
    ok = check_sentence_support("Trade turnover exceeded $550 million in 2024 [1].", cites)
    assert ok is not None and ok.supported
    changed = check_sentence_support("Trade turnover exceeded $650 million in 2024 [1].", cites)
    assert changed is not None and not changed.supported and changed.missing_numbers == ("650",)
    negated = check_sentence_support(
        "Azerbaijan did not lift restrictions on the transit of goods [2].", cites
    )
    assert negated is not None and not negated.supported and negated.missing_negations == ("not",)
    uncited = check_sentence_support("Trade turnover exceeded $550 million in 2024.", cites)
    assert uncited is not None and not uncited.supported
    drifted = check_sentence_support("Officials praised booming commerce between neighbours [1].", cites)
    assert drifted is not None and not drifted.supported and drifted.token_share < 0.6
    assert check_sentence_support("[1]", cites) is None


def test_unsupported_sentence_rate_for_model_answer(corpus: Path) -> None:
    q = question("u1", ["$550 million"], [S_TRADE])
    answer = (
        "Trade turnover exceeded $550 million in 2024 [1]. "
        "Trade turnover exceeded $650 million in 2024 [1]. "
        "Azerbaijan did not lift restrictions on the transit of goods to Armenia [2]."
    )
    resp = response(
        answer,
        citations=[citation(1, S_TRADE), citation(2, S_LIFT)],
        passages=[passage(S_TRADE), passage(S_LIFT)],
    )
    resp["backend"] = "llm"
    report = score_run([q], {"u1": resp}, corpus)
    assert report.metrics["unsupported_sentence_rate"].value == pytest.approx(2 / 3)
    assert report.metrics["unsupported_sentence_rate"].failing == ["u1"]
    assert len(report.questions[0].unsupported_sentences) == 2
    # only the first sentence is verbatim text of its quote (quotation marks are not required)
    assert report.metrics["quote_coverage"].value == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- abstention


def test_abstention_precision_recall_and_false_abstention(corpus: Path) -> None:
    qs = [
        question("x1", [], [], kind="unanswerable"),
        question("x2", [], [], kind="noise"),
        question("x3", ["Azerbaijan"], [S_LIFT]),
        question("x4", ["1,000 tons"], [S_WHEAT]),
    ]
    abstain = response("The documents do not answer this.", abstained=True, passages=[passage(S_TAIL)])
    answer = response(f"“{S_WHEAT}” [1]", citations=[citation(1, S_WHEAT)], passages=[passage(S_WHEAT)])
    responses = {"x1": abstain, "x2": answer, "x3": abstain, "x4": answer}
    report = score_run(qs, responses, corpus)
    m = report.metrics
    assert m["abstention_precision"].value == pytest.approx(0.5)
    assert m["abstention_precision"].failing == ["x3"]
    assert m["abstention_recall"].value == pytest.approx(0.5)
    assert m["abstention_recall"].failing == ["x2"]
    assert m["false_abstention_rate"].value == pytest.approx(0.5)
    assert m["false_abstention_rate"].failing == ["x3"]
    assert m["answer_hit_rate"].value == pytest.approx(0.5)  # an abstention never hits
    assert set(report.by_kind) == {"unanswerable", "noise", "fact"}
    assert report.by_kind["noise"]["abstention_recall"].value == 0.0


def test_missing_and_malformed_responses_count_as_failures(corpus: Path) -> None:
    qs = [question("m1", ["Azerbaijan"], [S_LIFT]), question("m2", [], [], kind="unanswerable")]
    report = score_run(qs, {"m2": {"abstained": "not a bool"}}, corpus)
    assert report.metrics["answer_hit_rate"].value == 0.0
    assert report.metrics["abstention_recall"].value == 0.0
    assert report.questions[0].error == "missing response"
    assert report.questions[1].error is not None and "malformed" in report.questions[1].error


def test_responses_may_be_a_sequence_aligned_with_questions(corpus: Path) -> None:
    qs = [question("s1", ["Azerbaijan"], [S_LIFT])]
    report = score_run(qs, [response(passages=[passage(S_LIFT)])], corpus)
    assert report.metrics["evidence_recall_at_1"].value == 1.0
    with pytest.raises(ValueError):
        score_run(qs, [], corpus)


# --------------------------------------------------------------------------- aggregation / report


def test_bootstrap_ci_contains_point_estimate_and_is_reproducible() -> None:
    num = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    den = [1] * 10
    low, high = bootstrap_ci(num, den, resamples=1000, seed=7)
    assert low is not None and high is not None
    assert low <= 0.7 <= high and low < high
    assert bootstrap_ci(num, den, resamples=1000, seed=7) == (low, high)
    assert bootstrap_ci([], []) == (None, None)
    assert bootstrap_ci([1, 1], [1, 1]) == (1.0, 1.0)


def test_report_cis_contain_point_estimates_and_round_trip_json(corpus: Path) -> None:
    qs, responses = [], {}
    sentences = [S_LIFT, S_TRADE, S_WHEAT]
    for i in range(12):
        s = sentences[i % 3]
        qs.append(question(f"r{i}", [s.split()[0]], [s]))
        hit = i % 4 != 0
        shown = s if hit else S_TAIL
        responses[f"r{i}"] = response(
            f"“{shown}” [1]", citations=[citation(1, shown)], passages=[passage(shown)]
        )
    report = score_run(qs, responses, corpus)
    for metric in report.metrics.values():
        if metric.value is not None:
            assert metric.ci_low is not None and metric.ci_high is not None
            assert metric.ci_low - 1e-12 <= metric.value <= metric.ci_high + 1e-12, metric.name
    assert report.metrics["evidence_recall_at_1"].value == pytest.approx(0.75)
    assert (
        report.metrics["evidence_recall_at_1"].ci_low < 0.75 < report.metrics["evidence_recall_at_1"].ci_high
    )
    again = EvalReport.model_validate_json(report.to_json())
    assert again == report
    json.loads(report.to_json())
    md = render_markdown(report)
    assert "| evidence_recall_at_1 | 0.750 |" in md and "## Failing questions" in md and "r0" in md


def test_thresholds_load_and_check(corpus: Path, tmp_path: Path) -> None:
    loaded = Thresholds.load()
    assert loaded.min["quote_exactness"] == 1.0  # the hard gate never loosens, on any corpus
    thresholds = loaded.for_corpus("seeds")
    assert loaded.for_corpus("no-such-corpus").min == loaded.min
    gated = {"evidence_recall_at_5", "answer_hit_rate", "citation_recall"}
    assert gated <= set(thresholds.min)
    assert {"false_abstention_rate", "ece", "quote_cut_rate"} <= set(thresholds.max)
    assert all(0 < v <= 1 for v in [*thresholds.min.values(), *thresholds.max.values()])
    assert loaded.check(score_run([question("t0", ["Azerbaijan"], [S_LIFT])], {}, corpus), corpus="seeds")

    qs = [question("t1", ["Azerbaijan"], [S_LIFT]), question("t2", [], [], kind="unanswerable")]
    five = [passage(S_LIFT), passage(S_TRADE), passage(S_WHEAT), passage(S_TAIL), passage("Transit news")]
    good = {
        "t1": response(f"“{S_LIFT}” [1]", citations=[citation(1, S_LIFT)], passages=five),
        "t2": response("Not in the documents.", abstained=True, passages=five),
    }
    # Quote cuts and calibration need real documents and a real spread of confidences; the toy run
    # below checks the other gates.
    toy = ("quote_cut_rate", "ece")
    assert [
        f for f in loaded.check(score_run(qs, good, corpus), corpus="seeds") if not f.startswith(toy)
    ] == []

    bad = {
        "t1": response("Not in the documents.", abstained=True, passages=five[1:]),
        "t2": response(f"“{S_TAIL}” [1]", citations=[citation(1, S_TRADE, quote=S_TAIL)], passages=five),
    }
    failures = loaded.check(score_run(qs, bad, corpus), corpus="seeds")
    names = {f.split()[0].rstrip(":") for f in failures}
    assert {
        "quote_exactness",
        "evidence_recall_at_5",
        "answer_hit_rate",
        "citation_recall",
        "false_abstention_rate",
    } <= names

    custom = tmp_path / "t.toml"
    custom.write_text(
        "[min]\nevidence_recall_at_10 = 0.5\n"
        "[corpus.c.max]\nece = 0.0\n[corpus.c.min]\nevidence_recall_at_10 = 0\n",
        encoding="utf-8",
    )
    failures = Thresholds.load(custom).check(score_run(qs, good, corpus))
    assert failures == ["evidence_recall_at_10: not computed (needs >= 0.5)"]
    # a corpus table overrides a global bound and may gate calibration (no confidences here: not computed)
    assert Thresholds.load(custom).check(score_run(qs, good, corpus), corpus="c") == [
        "evidence_recall_at_10: not computed (needs >= 0.0)",
        "ece: not computed",
    ]
