"""The terminal rendering of an answer: section path, page, corrections and the highlighted value."""

from __future__ import annotations

from verbatim.cli.render import render_answer_text

DATA = {
    "answer": "“The default timeout is 30 seconds.” [1]",
    "abstained": False,
    "corrections": [{"from": "timout", "to": "timeout"}],
    "citations": [
        {"n": 1, "source": "guide.pdf", "title": "Guide", "section": ["Guide", "Pool"], "page": 4,
         "quote": "The default timeout is 30 seconds.", "start": 10, "end": 44,
         "highlights": [{"start": 33, "end": 35}]}
    ],
    "passages": [],
}  # fmt: skip


def test_plain_rendering_names_section_page_and_corrections() -> None:
    text = render_answer_text(DATA)
    assert "(read as: timout → timeout)" in text
    assert "[1] Guide › Pool" in text and "guide.pdf, page 4, chars 10-44" in text
    assert "> The default timeout is 30 seconds." in text  # verbatim in a pipe


def test_a_terminal_shows_the_value_in_bold() -> None:
    assert "\033[1m30\033[0m seconds" in render_answer_text(DATA, color=True)
