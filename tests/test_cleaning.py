"""Cleaning, segmentation and chunking: general rules on synthetic pages, plus the seeds."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.conftest import SEEDS
from verbatim.ingest import cleaner
from verbatim.ingest.chunker import Chunker, embedding_input, kept_regions
from verbatim.ingest.cleaner import clean
from verbatim.ingest.formats import read_document as load
from verbatim.ingest.index.embedder import Encoder
from verbatim.ingest.reader import PathOutsideRoot, ReadProblem, discover, read_text_exact
from verbatim.ingest.segmenter import segment

BODY = (
    "The committee met on Tuesday to discuss the new budget for the coming year. "
    "Members agreed that spending on roads would rise by ten percent. "
)


def dropped_texts(text: str, reason: str) -> list[str]:
    return [text[d.start : d.end] for d in clean(text).dropped if d.reason == reason]


def kept_text(text: str) -> str:
    return " ".join(text[s:e] for s, e in clean(text).kept)


# -- reading ------------------------------------------------------------------------------------
def test_reader_reports_binary_undecodable_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.md").write_text("# Title\n\n" + BODY, encoding="utf-8")
    (tmp_path / "sub" / "nested.txt").write_text(BODY, encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    (tmp_path / "empty.txt").write_text("  \n\n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    files = list(discover([tmp_path], tmp_path))
    names = ["binary.txt", "empty.txt", "good.md", "image.png", "latin1.txt", "nested.txt"]
    assert [f.name for f in files] == names  # every file is listed, so the report can account for it
    results = {f.name: load(f, tmp_path) for f in files}
    png = results["image.png"]
    assert isinstance(png, ReadProblem) and "unsupported format '.png'" in png.reason and ".md" in png.reason
    assert isinstance(results["latin1.txt"], ReadProblem) and "not UTF-8" in results["latin1.txt"].reason
    assert isinstance(results["binary.txt"], ReadProblem) and "binary" in results["binary.txt"].reason
    assert isinstance(results["empty.txt"], ReadProblem) and "empty" in results["empty.txt"].reason
    nested = results["nested.txt"]
    assert not isinstance(nested, ReadProblem) and nested.source == "sub/nested.txt"


def test_reader_keeps_crlf_and_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "crlf.txt").write_bytes(b"Line one.\r\nLine two.\r\n")
    doc = load(root / "crlf.txt", root)
    assert not isinstance(doc, ReadProblem) and doc.text == "Line one.\r\nLine two.\r\n"
    outside = tmp_path / "secret.txt"
    outside.write_text("secret", encoding="utf-8")
    (root / "link.txt").symlink_to(outside)
    with pytest.raises(PathOutsideRoot):
        list(discover([root / ".." / "secret.txt"], root))
    assert [f.name for f in discover([root], root)] == ["crlf.txt"]  # the symlink out is not followed


# -- cleaning rules -------------------------------------------------------------------------------
def test_lines_repeated_many_times_are_dropped() -> None:
    ticker = "".join(f"  • EUR/USD = 1.08{i} 0%\n" for i in range(3)) * 4
    text = ticker + "Headline of the day\n" + BODY + "\n"
    assert len(dropped_texts(text, cleaner.REPEATED)) == 12
    assert "EUR/USD" not in kept_text(text) and "ten percent" in kept_text(text)


def test_second_copy_of_the_article_is_dropped_but_the_first_kept() -> None:
    article = (
        "A Title For The Story\n" + BODY + "\nAnother paragraph with enough words to count as content.\n"
    )
    text = article + "Tag: Things\n" + article
    result = clean(text)
    dup = [text[d.start : d.end] for d in result.dropped if d.reason == cleaner.DUPLICATE]
    assert "A Title For The Story" in dup and len(dup) == 3
    assert kept_text(text).count("ten percent") == 1
    assert all(s < len(article) for s, _ in result.kept)


def test_navigation_and_newsletter_runs_and_footer_are_dropped() -> None:
    text = (
        BODY + "\n\nVisit also\n\nsiteone\n\nPartner\n\nthird-link\n\n"
        "The Daily Example is a weekly publication of the Example Institute, bringing news to readers.\n\n"
        "Newsletter\n\nSign up for our latest news and events.\n\nNewsletter\n"
    )
    result = clean(text)
    reasons = {text[d.start : d.end]: d.reason for d in result.dropped}
    assert reasons["Visit also"] == reasons["siteone"] == reasons["third-link"] == cleaner.NAVIGATION
    assert reasons["Sign up for our latest news and events."] == cleaner.NAVIGATION
    assert reasons[next(k for k in reasons if k.startswith("The Daily Example"))] == cleaner.FOOTER
    assert "committee" in kept_text(text)


def test_short_lines_that_are_not_a_run_are_kept() -> None:
    text = "Budget Talks Resume\n\n" + BODY + "\n\nA Path Forward\n\n" + BODY.replace("roads", "schools")
    assert clean(text).dropped == []


def test_anti_spam_placeholder_is_cut_out_of_the_bio_line() -> None:
    text = (
        "AUTHOR'S BIO: Jane Doe is a fellow at the Institute. She can be reached at  This email address is "
        "being protected from spambots. You need JavaScript enabled to view it. .\n"
    )
    result = clean(text)
    assert [d.reason for d in result.dropped] == [cleaner.ANTI_SPAM]
    assert "Jane Doe is a fellow" in kept_text(text) and "spambots" not in kept_text(text)


@pytest.mark.parametrize(
    "line",
    [
        "Train, Kazakhstan © somebody/Shutterstock",
        "Credit: Wikimedia Commons",
        "Photo: Reuters",
        "View towards the river from the bridge; image: Agency",
    ],
)
def test_photo_credits_and_captions_are_dropped(line: str) -> None:
    text = f"Story Title\n{line}\n{BODY}\n"
    assert dropped_texts(text, cleaner.PHOTO_CREDIT) == [line]


def test_pagination_is_dropped_but_datelines_and_bylines_kept() -> None:
    text = f"05 December 2025\n\nViewing results 1 - 6 of 16\n\nBy Jane Doe\n\n{BODY}\n"
    assert dropped_texts(text, cleaner.PAGINATION) == ["Viewing results 1 - 6 of 16"]
    assert "05 December 2025" in kept_text(text) and "By Jane Doe" in kept_text(text)


# -- segmentation ---------------------------------------------------------------------------------
def test_bylines_split_a_page_into_articles_with_authors() -> None:
    parts = []
    for n, name in enumerate(["Ann Lee", "Bo Chen", "Cy Diaz"]):
        parts.append(f"Published in Reports\n\nBy {name}\n\nStory {n} opens with a sentence. " + BODY)
    text = "\n\n".join(parts) + "\n"
    articles = segment(clean(text))
    assert [a.author for a in articles] == ["Ann Lee", "Bo Chen", "Cy Diaz"]
    assert articles[0].title == "Story 0 opens with a sentence"  # no heading: the lead sentence
    assert all(a.start < a.end <= b.start for a, b in itertools.pairwise(articles))


def test_a_listing_of_teasers_becomes_one_article_per_heading() -> None:
    text = (
        "12 March 2024\n\n"
        + "\n\n".join(f"Teaser Heading Number {n}\n\n{BODY}Extra {n}." for n in range(4))
        + "\n"
    )
    articles = segment(clean(text))
    assert [a.title for a in articles] == [f"Teaser Heading Number {n}" for n in range(4)]
    assert {a.date for a in articles} == {"12 March 2024"}


def test_subheadings_with_several_paragraphs_stay_in_one_article() -> None:
    text = (
        "Main Title Of The Piece\n"
        + BODY
        + "\n"
        + BODY.replace("roads", "parks")
        + "\n"
        + "\n".join(
            f"Section {n}\n{BODY.replace('ten', str(n))}\n{BODY.replace('Tuesday', f'day {n}')}"
            for n in range(3)
        )
        + "\n"
    )
    articles = segment(clean(text))
    assert len(articles) == 1 and articles[0].title == "Main Title Of The Piece"


# -- the seeds ------------------------------------------------------------------------------------
def seed(name: str) -> str:
    return read_text_exact(next(SEEDS.glob(f"{name}_*.txt")))


def test_seed_debris_is_dropped_and_bios_kept() -> None:
    ticker = seed("003")
    assert "USD" not in kept_text(ticker)
    doubled = seed("000")
    assert kept_text(doubled).count("1,000 tons of wheat") == 1
    caci = seed("002")
    kept = kept_text(caci)
    assert "Newsletter" not in kept and "spambots" not in kept and "Visit also" not in kept
    assert kept.count("AUTHOR") == 4 and "Credit: Wikimedia" not in kept
    assert "has written and consulted on Central Asian affairs" in kept_text(seed("004"))


def test_seed_articles() -> None:
    counts = {p.name[:3]: segment(clean(read_text_exact(p))) for p in sorted(SEEDS.glob("*.txt"))}
    assert [len(v) for v in counts.values()] == [1, 1, 4, 6, 1]
    assert [a.author for a in counts["002"]] == [
        "Eduard Abrahamyan",
        "Emil Avdaliani",
        "Vali Kaleji",
        "Nargiza Umarova",
    ]
    assert counts["003"][1].title == "Kazakhstan Backs Trump’s Gaza Peace Initiative"
    assert counts["004"][0].author == "Robert M. Cutler"
    assert counts["001"][0].title.startswith("Aliyev, Tokayev Pledge Deeper Cooperation")


# -- chunking ---------------------------------------------------------------------------------------
def test_every_seed_chunk_is_a_raw_span_inside_one_article_and_one_kept_region(encoder: Encoder) -> None:
    chunker = Chunker(encoder.count_tokens, encoder.max_seq_length)
    total = 0
    for path in sorted(SEEDS.glob("*.txt")):
        raw = read_text_exact(path)
        cleaned = clean(raw)
        articles = segment(cleaned)
        for chunk in chunker.chunk(cleaned, articles):
            total += 1
            assert raw[chunk.start : chunk.end] == chunk.text
            article = articles[chunk.article]
            assert article.start <= chunk.start < chunk.end <= article.end
            regions = kept_regions(cleaned, article.start, article.end)
            assert any(s <= chunk.start and chunk.end <= e for s, e in regions)
            assert not any(d.start < chunk.end and chunk.start < d.end for d in cleaned.dropped)
            for s, e in chunk.sentences:
                assert chunk.start <= s < e <= chunk.end
            # Nothing is truncated: the model input (title + text) fits max_seq_length with special tokens.
            model_input, _ = embedding_input(article.title, chunk.text)
            assert encoder.count_tokens(model_input) <= encoder.max_seq_length
    assert total > 50


def test_the_encoder_refuses_rather_than_truncates(encoder: Encoder) -> None:
    with pytest.raises(ValueError, match="max_seq_length"):
        encoder.embed(["word " * 400])


def test_long_paragraphs_are_split_at_sentences_with_overlap(encoder: Encoder) -> None:
    sentences = [f"Sentence number {n} talks about the budget of city {n} in detail." for n in range(60)]
    text = "Long Title\n" + " ".join(sentences) + "\n"
    cleaned = clean(text)
    chunks = Chunker(encoder.count_tokens, encoder.max_seq_length, chunk_tokens=120).chunk(
        cleaned, segment(cleaned)
    )
    assert len(chunks) > 3
    body = [c for c in chunks if "Sentence" in c.text]
    assert all(c.text.rstrip().endswith(".") for c in body[:-1])  # cut at sentence ends
    assert any(a.end > b.start for a, b in itertools.pairwise(body))  # overlap
