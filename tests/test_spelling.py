"""Misspelt question words read as corpus words: one edit, corpus vocabulary, common words left alone."""

from __future__ import annotations

from verbatim.service.qa.spelling import Vocabulary, apply, corrections, within_one_edit

CORPUS = [
    "The president of Kazakhstan visited Yerevan. The president met the prime minister.",
    "HashKnownHosts hashes host names; the president said nothing about StrictHostKeyChecking.",
]


def test_one_edit_of_every_kind() -> None:
    assert within_one_edit("kazakstan", "kazakhstan")  # insertion
    assert within_one_edit("presidnet", "president")  # adjacent swap
    assert within_one_edit("presidemt", "president")  # substitution
    assert within_one_edit("presiddent", "president")  # deletion
    assert not within_one_edit("prseidnet", "president")
    assert not within_one_edit("cat", "cart ")


def test_typos_are_read_as_the_corpus_spelling() -> None:
    vocabulary = Vocabulary(CORPUS)
    found = corrections("When did the presidnet of Kazakstan visit?", vocabulary)
    assert [(c.typed, c.corrected) for c in found] == [
        ("presidnet", "president"),
        ("Kazakstan", "Kazakhstan"),
    ]
    assert apply("the presidnet of Kazakstan", corrections("the presidnet of Kazakstan", vocabulary)) == (
        "the president of Kazakhstan"
    )
    assert corrections("hashknownhost setting", vocabulary)[0].corrected == "HashKnownHosts"


def test_known_short_and_common_words_are_left_alone() -> None:
    vocabulary = Vocabulary(CORPUS)
    assert corrections("the president of Kazakhstan", vocabulary) == []  # known
    assert corrections("visti", vocabulary) == []  # too short to guess
    # "presidents" is one edit from "president", but a word the model knows whole is not a typo.
    assert corrections("presidents", vocabulary, is_common_word=lambda w: w == "presidents") == []
    assert corrections("quantum chromodynamics", vocabulary) == []  # nothing one edit away
