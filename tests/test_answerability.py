"""Answerability: fine answer types with novelty, soft term support, unknown names, the word-vector cache.

Examples are general English on purpose (not the eval questions), so the rules are tested as rules.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from verbatim.service.qa.engine import WARM_UP_ENDED, Engine
from verbatim.service.qa.extractive import ExtractiveAnswerer, corpus_lexicon
from verbatim.service.qa.question import (
    Lexicon,
    answer_entities,
    answer_type,
    asked_role,
    counted_noun,
    expands,
    has_answer_type,
    is_demonym,
    key_terms,
    named_words,
)
from verbatim.service.qa.schemas import AskRequest
from verbatim.service.qa.wordvectors import WordVectors


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("In what year did the bridge open?", "year"),
        ("When did the talks start?", "date"),
        ("On which dates were the votes held?", "date"),
        ("How long does the crossing take?", "duration"),
        ("How long is the new pipeline?", "distance"),
        ("How far is the port from the border?", "distance"),
        ("How many kilometres of track were laid?", "distance"),
        ("How much did the shipment weigh?", "weight"),
        ("What share of voters backed the plan?", "percent"),
        ("What is the interest rate on the bond?", "percent"),
        ("How much will the new terminal cost?", "money"),
        ("What was the price per barrel last spring?", "money"),
        ("What is the estimated value of the contract?", "money"),
        ("How many ships crossed the strait?", "count"),
        ("How large is the fleet?", "quantity"),
        ("What trade figure do the two sides aim for?", "quantity"),
        ("Who chairs the committee?", "person"),
        ("Which former foreign minister resigned?", "person"),
        ("Which company won the tender?", "organization"),
        ("Which U.S. private company runs the port?", "organization"),
        ("Which Baku think tank's director spoke first?", "organization"),
        ("Where did the leaders meet?", "place"),
        ("In which city is the summit?", "place"),
        ("What is the press office's email address?", "contact"),
        ("Why did the talks stall?", "other"),
        ("What did the minister call the plan?", "other"),
    ],
)
def test_answer_type(question: str, kind: str) -> None:
    assert answer_type(question) == kind


@pytest.mark.parametrize(
    ("sentence", "kind", "question", "found"),
    [
        # The entity must be new: a year the question already names answers nothing.
        ("The bridge was damaged in 2022.", "year", "In what year did the bridge open after 2022?", False),
        ("It opened in 2019 after repairs in 2022.", "year", "In what year did it open after 2022?", True),
        # Money needs a currency; a bare tonnage is not a price.
        ("The port handled 300,000 tons of grain.", "money", "What was the price of the grain?", False),
        ("The grain sold for $210 a ton.", "money", "What was the price of the grain?", True),
        ("Its budget is €35 million.", "money", "How much will it cost?", True),
        ("Turnout was 61 percent.", "percent", "What share of voters turned out?", True),
        ("Turnout rose by 61 votes.", "percent", "What share of voters turned out?", False),
        ("The crossing takes 15–18 days.", "duration", "How long does the crossing take?", True),
        ("The crossing has 15 stops.", "duration", "How long does the crossing take?", False),
        ("The missiles exploded ten meters away.", "distance", "How far away did they explode?", True),
        ("The ship carried 82 tons of aid.", "weight", "How much did the aid weigh?", True),
        # A year is not a count.
        ("Talks resumed in 2024.", "count", "How many rounds of talks were held?", False),
        ("Eight rounds of talks were held.", "count", "How many rounds of talks were held?", True),
        # People versus organisations and titles.
        ("The photo is by South Caucasus Railways.", "person", "Who took the photo?", False),
        ("The speech was given by Valentina Matviyenko.", "person", "Who gave the speech?", True),
        ("It was run by Senior Research Fellow staff.", "person", "Who ran it?", False),
        ("The deal went to Rosatom last year.", "organization", "Which company got the deal?", True),
        ("Write to press@example.org for details.", "contact", "What is the email address?", True),
        ("Write to the press office for details.", "contact", "What is the email address?", False),
        ("The talks stalled.", "other", "Why did the talks stall?", True),
    ],
)
def test_has_answer_type_wants_a_new_entity_of_the_type(
    sentence: str, kind: str, question: str, found: bool
) -> None:
    assert answer_type(question) == kind or kind == "count"
    assert has_answer_type(sentence, kind, question) is found, answer_entities(sentence, kind)  # type: ignore[arg-type]


# The stems of country names a corpus might hold: what tells a nationality adjective from a name.
COUNTRIES = frozenset(
    {"armenia", "kazakhstan", "china", "turkey", "europe", "azerbaijan", "iran", "ukraine", "russia"}
)


def test_nationality_adjectives_are_known_from_their_countries() -> None:
    for word in (
        "Armenian",
        "Kazakh",
        "Chinese",
        "Turkish",
        "European",
        "Azerbaijani",
        "Iranian",
        "Ukrainian",
    ):
        assert is_demonym(word, COUNTRIES), word
    for word in ("Armenia", "Azerbaijan", "Rosatom", "Taliban", "Yerevan"):
        assert not is_demonym(word, COUNTRIES), word
    assert not is_demonym("Kazakh", frozenset())  # a country the corpus never names proves nothing


def test_organisations_are_not_nationalities_titles_or_months() -> None:
    sentence = (
        "In May, the Kazakh opposition and the Armenian Minister met Rosatom"
        " and the Eurasian Development Bank."
    )
    orgs = answer_entities(sentence, "organization", Lexicon(COUNTRIES))
    assert "Rosatom" in orgs and "Eurasian Development Bank" in orgs
    assert not {"Kazakh", "Armenian Minister", "Armenian", "Minister", "May"} & set(orgs)
    question = "Which opposition party criticised the grain?"
    assert not has_answer_type(
        "The Kazakh grain was worse than the Russian grain.", "organization", question, Lexicon(COUNTRIES)
    )


def test_lower_case_may_is_no_month() -> None:
    assert not has_answer_type("The decision may be delayed.", "date", "When will the decision come?")
    assert has_answer_type("The decision came in May.", "date", "When did the decision come?")


def test_person_names_split_at_possessives_and_match_by_surname() -> None:
    assert answer_entities("In March, the Assembly’s Rose Roth seminar met.", "person") == ["Rose Roth"]
    question = "Who was president when Nursultan Nazarbayev cancelled his visit?"
    assert not has_answer_type("Former President Nursultan Nazarbayev cancelled a visit.", "person", question)
    assert has_answer_type("President Serzh Sargsyan welcomed the delay.", "person", question)


def test_a_bare_surname_is_a_person_once_the_corpus_names_them_in_full() -> None:
    texts = [
        "President Ilham Aliyev arrived in Astana for the Global Peace Summit.",
        "The summit opened with talks on transit. Later he flew in from Nagorno Karabakh.",
    ]
    lexicon = Lexicon.build(texts, frozenset())
    assert "aliyev" in lexicon.surnames
    assert "summit" not in lexicon.surnames  # written in lower case too: a headline word, not a name
    assert "karabakh" not in lexicon.surnames  # "from …": a place
    assert answer_entities("Aliyev confirmed the decision.", "person", lexicon) == ["Aliyev"]
    assert answer_entities("Aliyev confirmed the decision.", "person") == []
    assert not has_answer_type(
        "Aliyev confirmed it.", "person", "What did Aliyev confirm, and who else?", lexicon
    )


def test_an_acronym_spelled_out_is_not_a_new_name() -> None:
    question = "Which company will operate the TRIPP corridor?"
    named = "The Trump Route for International Peace and Prosperity (TRIPP) is a corridor."
    assert not has_answer_type(named, "organization", question)
    assert has_answer_type(
        "The Trump Route for International Peace and Prosperity is run by Wabtec.", "organization", question
    )


@pytest.mark.parametrize(
    ("question", "role"),
    [
        ("Who is the head of the port authority?", "head"),
        ("Who was Norway's prime minister when the bridge opened?", "minister"),
        ("Who is the Chairwoman of the Senate who visited Oslo?", "chairwoman"),
        ("Who was the editor-in-chief that the court fined?", "editor-in-chief"),
        ("Who signed the treaty?", None),  # an action, not a role
        ("Who is he?", None),
        ("Who was Norway's?", None),
    ],
)
def test_role_questions_name_their_role(question: str, role: str | None) -> None:
    assert asked_role(question) == role


def test_a_role_is_answered_by_the_name_beside_it() -> None:
    question = "Who is the head of the port authority?"
    for sentence in [
        "The head of the port authority, Anna Berg, promised faster checks.",  # apposition
        "Port authority head Anna Berg promised faster checks.",  # title
        "Anna Berg, the head of the port authority, promised faster checks.",
    ]:
        assert has_answer_type(sentence, "person", question), sentence
    for sentence in [
        "Anna Berg opened the new grain terminal on Monday.",  # no role: says nothing of who holds it
        "The head of the port authority resigned after a long and bitter dispute with the city over the"
        " harbour fees that Anna Berg had raised.",  # the name holds another part
    ]:
        assert not has_answer_type(sentence, "person", question), sentence
    # Questions that ask who did something are not held to the role rule.
    assert has_answer_type("Anna Berg opened the new grain terminal.", "person", "Who opened the terminal?")


def test_a_typed_question_whose_best_sentence_lacks_the_type_abstains(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "port.txt").write_text(
        "Northhaven port authority gets a new head\n\n"
        "The port authority of Northhaven appointed a new head in March after a long search. "
        "The new head of the Northhaven port authority promised faster customs checks for grain ships. "
        "Grain exports through Northhaven rose by a fifth last year, the port authority said.\n",
        encoding="utf-8",
    )
    engine = Engine(make_settings(tmp_path / "data", corpus))
    engine.start()
    try:
        # Every term of the question is in the passage, but no sentence names the head.
        named = engine.ask(AskRequest(question="Who is the new head of the Northhaven port authority?"))
        assert named.abstained and named.confidence == 0.0
        assert named.passages  # the closest passages are still shown
        dated = engine.ask(AskRequest(question="When did the Northhaven port authority appoint a new head?"))
        assert dated.confidence and dated.confidence > 0.0  # "March" is there: the model decides
    finally:
        engine.stop()


def test_counted_noun_and_key_terms() -> None:
    assert counted_noun("How many Russian citizens did the court release?") == "citizens"
    assert counted_noun("How many rail wagons carried the grain?") == "wagons"
    assert counted_noun("How many ships were sunk?") == "ships"
    assert counted_noun("When did it start?") is None
    # Answer-type words ("how many", "which city") are left to the type check.
    assert key_terms("In which city did the ministers meet in May?") == ["ministers", "meet", "may"]


def test_named_words_and_acronyms() -> None:
    assert named_words("What did the IRI poll say about Russia's role?") == ["IRI", "Russia"]
    assert expands("IRI", "a poll by the International Republican Institute")
    assert expands("EBRD", "the European Bank for Reconstruction and Development")
    assert not expands("IRI", "an Iranian railway inspectorate")  # initials must be capitalised words
    assert not expands("Mars", "Mars")  # only all-capital acronyms are spelled out


class _CountingEmbed:
    """A deterministic stand-in for the encoder: one fixed random unit vector per word."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.rng = np.random.default_rng(0)
        self.table: dict[str, np.ndarray] = {}

    def __call__(self, words: list[str]) -> np.ndarray:
        self.seen.extend(words)
        rows = []
        for w in words:
            if w not in self.table:
                v = self.rng.normal(size=16)
                self.table[w] = v / np.linalg.norm(v)
            rows.append(self.table[w])
        return np.stack(rows)


def test_word_vectors_embed_each_word_once_and_match_softly() -> None:
    embed = _CountingEmbed()
    vectors = WordVectors(embed, capacity=100)
    embed.table["cost"] = embed.table["price"] = np.eye(16)[0]
    sims = vectors.best_match(["cost", "wagon"], ["price", "train", "price"])
    assert sims[0] == pytest.approx(1.0) and sims[1] < 0.9
    vectors.best_match(["cost"], ["price"])
    assert sorted(embed.seen) == ["cost", "price", "train", "wagon"]  # cached after the first call
    assert vectors.best_match([], ["x"]).shape == (0,)
    assert vectors.best_match(["x"], []).tolist() == [0.0]


def test_warm_embeds_only_what_is_missing_in_batches() -> None:
    embed = _CountingEmbed()
    vectors = WordVectors(embed, capacity=10)
    vectors.vectors(["a"])
    assert vectors.warm(["a", "b", "c", "b", "d"], batch=2) == 3
    assert embed.seen == ["a", "b", "c", "d"]
    assert vectors.warm([f"w{i}" for i in range(50)]) == 6  # never past the capacity


def test_warm_stops_when_asked() -> None:
    embed = _CountingEmbed()
    calls = iter([False, True])
    assert WordVectors(embed).warm(["a", "b", "c", "d"], batch=2, should_stop=lambda: next(calls)) == 2
    assert embed.seen == ["a", "b"]


def test_engine_stop_waits_for_the_warm_up(tmp_path: Path) -> None:
    """A process must not exit while the warm-up runs the model in native code (that aborts it)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(" ".join(f"Word{i} appears in sentence number {i}." for i in range(400)))
    engine = Engine(make_settings(tmp_path / "data", corpus))
    engine.start()
    warm_up = engine._warm_thread
    assert warm_up is not None
    engine.stop()
    assert not warm_up.is_alive()


def test_the_warm_up_logs_its_end_even_when_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The latency benchmark waits for this line before it measures; a failed warm-up must not hang it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Wheat reached Armenia by train from Kazakhstan in November.")

    def broken(*_: object, **__: object) -> int:
        raise RuntimeError("no model")

    engine = Engine(make_settings(tmp_path / "data", corpus))
    assert engine.answerer.word_vectors is not None
    monkeypatch.setattr(engine.answerer.word_vectors, "warm", broken)
    with caplog.at_level(logging.INFO, logger="verbatim.engine"):
        engine.start()
        assert engine._warm_thread is not None
        assert engine.wait_for_warm_up(timeout=60)
        assert not engine._warm_thread.is_alive()
        engine.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "verbatim.engine"]
    assert any(m.startswith("word-vector warm-up failed") for m in messages)
    assert any(m.startswith(f"{WARM_UP_ENDED}: 0 word vectors") for m in messages)


def test_a_word_vector_does_not_depend_on_its_batch(seeded_engine: Engine) -> None:
    """The int8 encoder quantises each batch with one scale: words are embedded alone, so a word's
    vector (and every answer that uses it) is the same whatever was embedded with it."""
    alone = seeded_engine._embed_words(["price"])
    together = seeded_engine._embed_words(["international", "price", "supercalifragilistic reconstruction"])
    assert np.array_equal(alone[0], together[1])


def test_the_engine_warms_the_index_vocabulary(seeded_engine: Engine) -> None:
    deadline = time.monotonic() + 60
    while (
        any(t.name == "answerability-warm-up" for t in threading.enumerate()) and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    cached = seeded_engine.answerer.word_vectors._cache  # type: ignore[union-attr]
    assert {"wheat", "armenia", "corridor"} <= set(cached)
    # The names lexicon was built for the snapshot then too: asking for it again is the memoised value.
    snap = seeded_engine.snapshot()
    assert corpus_lexicon(snap) is corpus_lexicon(snap)
    assert {"aliyev", "pashinyan"} <= corpus_lexicon(snap).surnames


def test_word_vector_cache_is_bounded() -> None:
    vectors = WordVectors(_CountingEmbed(), capacity=3)
    vectors.vectors(["a", "b", "c"])
    vectors.vectors(["d", "e"])
    assert len(vectors._cache) <= 3


def test_support_is_the_weakest_key_term() -> None:
    embed = _CountingEmbed()
    embed.table["held"] = embed.table["hold"] = np.eye(16)[1]
    answerer = ExtractiveAnswerer(word_vectors=WordVectors(embed))
    evidence = "The summit was held in Gabala in October."
    assert answerer.support("Where was the summit held?", evidence) == 1.0  # every term by stem
    assert answerer.support("Where did they hold the summit?", evidence) == pytest.approx(1.0)  # soft
    assert answerer.support("What did the summit tickets cost?", evidence) < 0.9  # "tickets", "cost" absent
    assert ExtractiveAnswerer(word_vectors=None).support("What did tickets cost?", evidence) == 0.0


def _ask(engine: Engine, question: str) -> tuple[bool, float]:
    response = engine.ask(AskRequest(question=question))
    return response.abstained, response.confidence or 0.0


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Mars?",  # a name the documents never use
        "Who won the 2018 World Cup?",
        "What is the boiling point of water?",  # off the topic altogether
        "How do I bake sourdough bread?",
    ],
)
def test_off_topic_questions_abstain(seeded_engine: Engine, question: str) -> None:
    abstained, confidence = _ask(seeded_engine, question)
    assert abstained and confidence < 0.5


def test_a_plain_answerable_question_still_answers(seeded_engine: Engine) -> None:
    abstained, confidence = _ask(seeded_engine, "How many tons of wheat arrived in Armenia from Kazakhstan?")
    assert not abstained and confidence > 0.5
