"""The evaluation's newer measures on synthetic inputs: quotes cut inside a sentence, calibration,
whitespace-insensitive evidence for converted formats, highlights and hedging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from verbatim.evals.calibration import auc, calibrate, ece
from verbatim.evals.quote_cuts import quote_cut
from verbatim.evals.scoring import Corpus, Question, evidence_spans, find_loose, score_run

WRAPPED = (
    "Intro line of a wrapped paragraph that goes on and on\n"
    "across the hard line break until it stops. Then a second\n"
    "sentence starts mid-line and ends here.\n"
    "\n"
    "A heading without punctuation\n"
    "\n"
    "- a list item without a period\n"
    "- another item that wraps onto\n"
    "  the next line\n"
    "\n"
    "       -A, --catenate\n"
    "              Append archive to the end of another\n"
    "              archive.\n"
    "| cell one | cell two |\n"
    "| cell three | cell four |\n"
    "Version 3.5 is out.\n"
)


def cut(text: str, quote: str, nth: int = 0) -> tuple[bool, bool]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(quote, start + 1)
    report = quote_cut(text, start, start + len(quote))
    return report.start_cut, report.end_cut


def test_whole_sentences_and_blocks_are_not_cut() -> None:
    assert cut(
        WRAPPED,
        "Intro line of a wrapped paragraph that goes on and on\nacross the hard line break until it stops.",
    ) == (False, False)
    assert cut(WRAPPED, "Then a second\nsentence starts mid-line and ends here.") == (False, False)
    assert cut(WRAPPED, "A heading without punctuation") == (False, False)
    assert cut(WRAPPED, "- a list item without a period") == (False, False)
    assert cut(WRAPPED, "a list item without a period") == (False, False)  # the item after its marker
    assert cut(WRAPPED, "-A, --catenate") == (False, False)
    assert cut(WRAPPED, "Append archive to the end of another\n              archive.") == (False, False)
    assert cut(WRAPPED, "| cell one | cell two |") == (False, False)
    assert cut(WRAPPED, "| cell three | cell four |") == (False, False)
    assert cut(WRAPPED, "Version 3.5 is out.") == (False, False)


def test_quotes_cut_at_a_hard_line_break_or_mid_line() -> None:
    # ends at the line break while the sentence goes on on the next line
    assert cut(WRAPPED, "Intro line of a wrapped paragraph that goes on and on") == (False, True)
    # starts at a wrapped line's start in the middle of the sentence
    assert cut(WRAPPED, "across the hard line break until it stops.") == (True, False)
    # mid-line on both sides
    assert cut(WRAPPED, "hard line break") == (True, True)
    # a wrapped list item cut at its line break
    assert cut(WRAPPED, "- another item that wraps onto") == (False, True)
    assert cut(WRAPPED, "Append archive to the end of another") == (False, True)
    # "3." out of "3.5" does not end a sentence; "5 is out." does not start one
    assert cut(WRAPPED, "Version 3.") == (False, True)
    assert cut(WRAPPED, "5 is out.") == (True, False)


def test_colon_lead_in_and_underlined_heading() -> None:
    text = "Options\n=======\nThe options are:\n  fast mode, slow mode\nUse the value: 5 here.\n"
    assert cut(text, "The options are:") == (False, False)
    assert cut(text, "Options") == (False, False)
    assert cut(text, "Use the value:") == (False, True)  # colon mid-line is no lead-in
    with pytest.raises(ValueError):
        quote_cut(text, 5, 2)


def test_a_line_break_ends_a_paragraph_in_text_that_is_not_hard_wrapped() -> None:
    paragraph = "The ferry leaves the north pier at six on weekdays and calls at the lighthouse landing. " * 3
    page = f"Photo: harbour, Kiel © somebody\nNote\n{paragraph.strip()}\nTimetables change in winter\n"
    quote = paragraph.strip()
    assert cut(page, quote) == (False, False)  # after a caption and a label; one line is one paragraph
    assert cut(page, "Timetables change in winter") == (False, False)
    assert cut(page, "calls at the lighthouse landing.") == (True, False)  # mid-line is still a cut
    # The same lines in a hard-wrapped document are a sentence broken at its line break.
    wrapped = (
        "The harbour ferry leaves the north pier at six on\nweekdays and calls at the lighthouse landing.\n"
    )
    assert cut(wrapped, "weekdays and calls at the lighthouse landing.") == (True, False)


def test_rows_of_a_column_aligned_table_are_whole() -> None:
    table = (
        "Various examples, as the text wraps them before and after the table below it:\n"
        "   Lang     Territory       Directory\n"
        "   English  United Kingdom  /usr/share/man/en_GB\n"
        "   French   Canada          /usr/share/man/fr_CA\n"
        "   Japanese Japan           /usr/share/man/ja_JP (or EUC-J) /x\n"
        "And a wrapped sentence with  two spaces that goes\non past its line break.\n"
    )
    assert cut(table, "English  United Kingdom  /usr/share/man/en_GB") == (False, False)
    assert cut(
        table,
        "English  United Kingdom  /usr/share/man/en_GB\n   French   Canada          /usr/share/man/fr_CA",
    ) == (
        False,
        False,
    )
    assert cut(table, "Japanese Japan           /usr/share/man/ja_JP (or EUC-J) /x") == (False, False)
    # Prose is still cut at its line break, double spaces or not.
    assert cut(table, "And a wrapped sentence with  two spaces that goes") == (False, True)


def test_ece_auc_and_reliability_table() -> None:
    # perfectly calibrated within bins: conf 0.05 with 0/2 answerable would be |0-0.05|
    conf = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1]
    label = [True] * 9 + [False] + [False, False]
    # bin 9: 10 items, mean .9, rate .9 -> 0; bin 1: 2 items, mean .1, rate 0 -> 2/12*0.1
    assert ece(conf, label) == pytest.approx(2 / 12 * 0.1)
    assert auc([0.9, 0.8, 0.2], [1, 1, 0]) == 1.0
    assert auc([0.5, 0.5], [1, 0]) == 0.5
    assert auc([0.5], [1]) is None
    cal = calibrate(conf, label, resamples=200)
    assert cal.n == 12 and len(cal.bins) == 10
    assert cal.bins[9].count == 10 and cal.bins[9].observed_rate == pytest.approx(0.9)
    assert cal.bins[1].count == 2 and cal.bins[0].count == 0 and cal.bins[0].mean_confidence is None
    assert cal.ece_ci_low is not None and cal.ece_ci_high is not None
    assert cal.ece_ci_low <= cal.ece <= cal.ece_ci_high + 1e-12
    assert cal.brier == pytest.approx(
        np.mean([(c - float(y)) ** 2 for c, y in zip(conf, label, strict=True)])
    )
    # confidence 1.0 falls in the last bin
    assert calibrate([1.0], [True], resamples=10).bins[9].count == 1


def test_find_loose_matches_across_whitespace_runs() -> None:
    text = "The  quick\n brown\u00a0fox jumps. The quick brown fox"
    second = text.rindex("quick")
    assert find_loose(text, "quick brown fox") == [(5, 21), (second, len(text))]
    assert text[5:21] == "quick\n brown\u00a0fox"
    assert find_loose(text, "  ") == []
    kerned = "you should rather f avour the quoted pattern"  # a PDF that spaces letters apart
    assert find_loose(kerned, "favour the quoted") == [(kerned.index("f av"), kerned.index(" pattern"))]


def _q(**kw: Any) -> Question:
    base: dict[str, Any] = {
        "id": "q1",
        "question": "?",
        "answers": ["42"],
        "evidence": [],
        "source": "a.txt",
        "kind": "fact",
    }
    return Question.model_validate({**base, **kw})


def test_converted_formats_use_the_served_text_whitespace_insensitively(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>The answer\n is <b>42</b>.</p>", encoding="utf-8")
    served = {"page.html": "The answer\nis 42."}
    corpus = Corpus(tmp_path, served=served.get)
    q = _q(evidence=["The answer is 42."], source="page.html")
    [span] = evidence_spans(q, corpus)
    assert (span.start, span.end) == (0, len(served["page.html"]))
    assert Corpus(tmp_path).text("page.html") is None  # no engine: a converted text is unknown
    (tmp_path / "raw.txt").write_text("The answer\nis 42.", encoding="utf-8")
    with pytest.raises(ValueError):  # text formats stay byte-exact
        evidence_spans(_q(evidence=["The answer is 42."], source="raw.txt"), Corpus(tmp_path))


def test_hedged_highlights_cuts_and_calibration_in_a_report(tmp_path: Path) -> None:
    text = "Intro.\nThe limit is 42 requests per\nminute for each key.\nOther text.\n"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8", newline="")
    whole = "The limit is 42 requests per\nminute for each key."
    cut_quote = "The limit is 42 requests per"
    s = text.index(whole)
    n42 = text.index("42")
    questions = [
        _q(id="q1", evidence=[whole]),
        _q(id="q2", evidence=[whole]),
        _q(id="q3", answers=[], kind="unanswerable"),
    ]
    passage = {"source": "a.txt", "start": 0, "end": len(text), "text": text}

    def cite(quote: str, hl: list[dict[str, int]]) -> dict[str, Any]:
        return {
            "n": 1,
            "source": "a.txt",
            "quote": quote,
            "start": s,
            "end": s + len(quote),
            "highlights": hl,
        }

    responses = {
        "q1": {
            "answer": f"“{whole}” [1]",
            "confidence": 0.9,
            "hedged": False,
            "passages": [passage],
            "citations": [cite(whole, [{"start": n42, "end": n42 + 2}])],
        },
        "q2": {
            "answer": f"“{cut_quote}” [1]",
            "confidence": 0.6,
            "hedged": True,
            "passages": [passage],
            "citations": [cite(cut_quote, [{"start": s, "end": s + 3}])],
        },
        "q3": {
            "answer": "The documents do not say.",
            "abstained": True,
            "confidence": 0.2,
            "passages": [passage],
        },
    }
    report = score_run(questions, responses, tmp_path, resamples=50)
    m = report.metrics
    assert m["quote_cut_rate"].value == pytest.approx(0.5) and m["quote_cut_rate"].failing == ["q2"]
    assert m["highlight_hit_rate"].value == pytest.approx(0.5) and m["highlight_hit_rate"].failing == ["q2"]
    assert m["highlight_validity"].value == 1.0
    assert m["hedged_rate"].value == pytest.approx(1 / 3) and m["hedged_rate"].failing == ["q2"]
    assert report.calibration.n == 3
    # bins: 0.9 -> 1 answerable; 0.6 -> 1; 0.2 -> 0: |1-.9|+|1-.6|+|0-.2| over 3
    assert report.calibration.ece == pytest.approx((0.1 + 0.4 + 0.2) / 3)
    assert report.calibration.auc == 1.0
