"""The parsed question: the value it asks for, values in text, novelty, spelling and authorship."""

from __future__ import annotations

import pytest

from verbatim.service.qa.question import new_values, offers_value, parse, value_spans, wanted_value
from verbatim.service.qa.spelling import Vocabulary


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many tons of grain were shipped?", "number"),
        ("how long does the backup take", "number"),
        ("What is the maximum length of a line?", "number"),
        ("When did the plant open?", "date"),
        ("In what year was the format published?", "date"),
        ("Which version dropped support for Python 3.6?", "version"),
        ("minimum python version required", "version"),
        ("Which option makes tar verbose?", "option"),
        ("What setting controls the session cookie?", "option"),
        ("Who chairs the committee?", "person"),
        ("Where are the log files kept?", "place"),
        ("Why did the talks stall?", None),
        ("Explain how the pool recycles connections", None),
    ],
)
def test_wanted_value(question: str, kind: str | None) -> None:
    assert wanted_value(question) == kind


def test_value_shapes() -> None:
    text = "Use --verbose or -v; set MAX_SIZE to 1,000 in /etc/app.conf since version 2.4.1 (March 2024)."
    found = {
        kind: [text[s:e] for s, e in value_spans(text, kind)] for kind in ("number", "option", "version")
    }
    assert "1,000" in found["number"]
    assert {"--verbose", "-v", "MAX_SIZE", "/etc/app.conf"} <= set(found["option"])
    assert "2.4.1" in found["version"]
    assert [text[s:e] for s, e in value_spans(text, "date")] == ["March 2024"]
    code = "The `pool_recycle` value."
    assert next(code[s:e] for s, e in value_spans(code, "option")) == "`pool_recycle`"


def test_a_value_the_question_already_states_is_not_new() -> None:
    sentence = "The bridge opened in 2022, ten years after work began in 2012."
    assert [
        sentence[s:e] for s, e in new_values(sentence, "date", "Did work on the bridge start in 2012?")
    ] == ["2022"]
    question = parse("When did the bridge open in 2022?")
    assert not offers_value("The bridge opened in 2022.", question)
    assert offers_value("The bridge opened in May 2022.", question)
    assert offers_value("Anything at all.", parse("Why did it open?"))  # no value wanted


def test_parse_corrects_against_the_corpus_and_keeps_the_rest() -> None:
    vocabulary = Vocabulary(["Wheat from Kazakhstan reached Armenia.", "Kazakhstan sent wheat again."])
    parsed = parse("How much wheat did Kazakstan send?", vocabulary)
    assert parsed.searched == "How much wheat did Kazakhstan send?"
    assert [(c.typed, c.corrected) for c in parsed.corrections] == [("Kazakstan", "Kazakhstan")]
    assert parsed.wants == "number"
    assert "kazakhstan" in parsed.key_words


def test_authorship_questions_search_their_topic() -> None:
    parsed = parse("Who wrote the article on the transit ban?")
    assert parsed.authorship and parsed.wants == "person" and parsed.searched == "the transit ban"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("xargs exit code when command not found", "number"),
        ("black default line length", "number"),
        ("PYTHONHASHSEED allowed range", "number"),
        ("What is the default value of PERMANENT_SESSION_LIFETIME?", "value"),
        ("short name for MIT license in debian copyright file", "value"),
    ],
)
def test_keyword_queries_ask_for_values_too(question: str, kind: str) -> None:
    assert wanted_value(question) == kind


def test_any_value_is_a_figure_a_version_or_an_option() -> None:
    text = "It defaults to timedelta(days=31); see `SESSION_COOKIE_NAME` and version 2.1."
    assert {text[s:e] for s, e in value_spans(text, "value")} >= {"31", "`SESSION_COOKIE_NAME`", "2.1"}
