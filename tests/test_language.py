"""Questions in a language the embedding model does not read are told so; English ones never are."""

from __future__ import annotations

import pytest

from verbatim.service.qa.language import foreign_language, message


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("Wer hat das Transitverbot aufgehoben?", "de"),
        ("Quelle est la version minimale de Python requise?", "fr"),
        ("¿Quién levantó la prohibición de tránsito?", "es"),
    ],
)
def test_foreign_questions_are_recognised(question: str, lang: str) -> None:
    assert foreign_language(question, set()) == lang
    assert lang in message(lang) and "English" in message(lang)


@pytest.mark.parametrize(
    "question",
    [
        "Who lifted the transit ban?",
        "tar gzip level",  # terse keyword queries
        "crontab -e editor",
        "presidnet Kazakstan visit",  # typos and foreign names
        "Metsamor plant megawatts",
        "what is the default value of pool_recycle",
    ],
)
def test_english_questions_pass(question: str) -> None:
    assert foreign_language(question, set()) is None


def test_a_question_in_the_corpus_language_is_searched() -> None:
    """A German corpus asked in German: most words are the corpus's own, so it is searched as it is."""
    known = {"transitverbot", "aufgehoben", "wer", "hat"}
    assert foreign_language("Wer hat das Transitverbot aufgehoben?", known) is None
