"""Who wrote an article: the question is recognised, searched by its topic and answered with the byline.

The corpus here is made up (not the seeds), so the rule is tested as a rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ask, make_settings, read_source
from verbatim.service.qa.authorship import authorship_topic
from verbatim.service.qa.engine import Engine
from verbatim.service.qa.schemas import AskRequest, SearchRequest


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Who wrote the article on the new grain terminal?", "the new grain terminal"),
        ("Who wrote the Analyst piece on Baku's ties with Moscow?", "Baku's ties with Moscow"),
        ("Who is the author of the analysis of Israel's ties with Baku?", "Israel's ties with Baku"),
        ("who penned this column on wheat imports", "wheat imports"),
        ("Who wrote the recent opinion piece about TRIPP?", "TRIPP"),
        ("Whose essay argues that the port should be sold?", "that the port should be sold"),
        ("By whom was the article on ferry fares written?", "ferry fares"),
    ],
)
def test_authorship_questions_and_their_topic(question: str, topic: str) -> None:
    assert authorship_topic(question) == topic


@pytest.mark.parametrize(
    "question",
    [
        "Who wrote the article?",  # no topic to find the article by
        "Who wrote to the harbour master?",  # something the text reports, not the article's byline
        "Who wrote the letter to the minister?",
        "Who wrote the book Small States, Russia and the West?",
        "What did the article say about the port?",
    ],
)
def test_other_questions_are_not_authorship_questions(question: str) -> None:
    assert authorship_topic(question) is None


NEWS = (
    "Grain terminal opens in Northhaven\n\n"
    "By Anna Berg\n\n"
    "The new grain terminal in Northhaven opened on Monday after two years of building work. "
    "Its owners expect exports of wheat and barley through the harbour to double by 2030. "
    "Harbour fees for grain ships were cut by a third to draw traffic away from rival ports.\n\n"
    "Ferry line to Southport resumes\n\n"
    "By Tom Lind\n\n"
    "The ferry line between Northhaven and Southport resumed service this week after a winter break. "
    "Tickets cost less than last year, and two new ships joined the fleet of the operator. "
    "Winter storms had kept the ships in port for most of January and February.\n\n"
    + "".join(
        f"On day {i} of the spring timetable the morning ferry left Northhaven at seven and the evening one "
        f"at six, and the crews logged {i * 40} passengers, mostly commuters with bicycles and lorries. "
        for i in range(1, 13)
    )
    + "\n\nThe operator plans a night crossing to Southport from June, with cabins for forty sleepers.\n"
)
WEATHER = (
    "Storm season ahead on the northern coast\n\n"
    "Forecasters expect a stormy autumn on the northern coast this year. "
    "Fishing boats were told to stay in harbour whenever winds pass gale force. "
    "The coast guard added two rescue stations to cover the longer storm season.\n"
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("authorship")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "news.txt").write_text(NEWS, encoding="utf-8")
    (corpus / "weather.txt").write_text(WEATHER, encoding="utf-8")
    engine = Engine(make_settings(root / "data", corpus))
    engine.start()
    yield engine
    engine.stop()


@pytest.mark.parametrize(
    ("question", "byline", "topic_word"),
    [
        ("Who wrote the article on the new grain terminal in Northhaven?", "By Anna Berg", "grain"),
        ("Who is the author of the piece about the ferry line to Southport?", "By Tom Lind", "ferry"),
    ],
)
def test_the_byline_of_the_article_on_the_topic_is_quoted(
    engine: Engine, question: str, byline: str, topic_word: str
) -> None:
    for top_k in (5, 1):
        response = ask(engine, AskRequest(question=question, top_k=top_k))
        assert not response.abstained, (top_k, response.answer)
        assert len(response.passages) <= top_k
        first = response.citations[0]
        assert first.quote == byline
        corpus = Path(engine.settings.corpus_dir)
        assert read_source(corpus, first.source)[first.start : first.end] == byline  # the offset invariant
        assert first.chunk_id in {p.chunk_id for p in response.passages}  # quoted from a returned passage
        # The article's own sentence on the topic follows, so the reader sees which article it is.
        if top_k == 5:
            assert any(topic_word in c.quote.lower() for c in response.citations[1:]), response.answer


def test_an_article_without_a_byline_abstains_and_says_why(engine: Engine) -> None:
    question = "Who wrote the article about the stormy autumn on the northern coast?"
    response = ask(engine, AskRequest(question=question))
    assert response.abstained and not response.citations
    assert response.answer.startswith("The documents do not name the author of “Storm season ahead")
    assert response.confidence == 0.0
    assert response.passages  # the closest passages are still listed


def test_an_article_on_a_topic_the_documents_lack_abstains(engine: Engine) -> None:
    response = ask(engine, AskRequest(question="Who wrote the article about volcanoes on Mars?"))
    assert response.abstained and not response.citations


def test_the_byline_passage_is_added_when_the_topic_is_far_from_it(engine: Engine) -> None:
    question = "Who wrote the piece about the planned night crossing with sleeper cabins?"
    response = ask(engine, AskRequest(question=question, top_k=2))
    assert not response.abstained, response.answer
    assert response.citations[0].quote == "By Tom Lind"
    assert "night crossing" in response.citations[1].quote
    # The byline is in another passage than the topic: retrieval added it, still within top_k.
    assert len(response.passages) == 2
    assert response.citations[0].chunk_id != response.citations[1].chunk_id
    found = engine.search(SearchRequest(query=question, top_k=2))
    assert [p.chunk_id for p in found.results] == [p.chunk_id for p in response.passages]
