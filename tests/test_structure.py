"""Structure of text formats: Markdown, reST and plain-text readers, block-aware cleaning, chunks by
section, and the offset invariant over every chunk and sentence of the techdocs and plaintext corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, make_settings
from verbatim.evals import cleaning_report
from verbatim.ingest.chunker import embedding_input
from verbatim.ingest.cleaner import MARKUP, clean
from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats import read_document
from verbatim.ingest.index.embedder import Encoder
from verbatim.ingest.pipeline import Ingestor, PreparedDocument
from verbatim.ingest.reader import ReadProblem

CORPORA = REPO / "evals" / "corpora"
TECHDOCS = CORPORA / "techdocs" / "documents"
PLAINTEXT = CORPORA / "plaintext" / "documents"

MARKDOWN = """---
title: "Front Title"
author: Ann Lee
---
<div align="center">
<img src="logo.png">
</div>

[![Build](https://example.org/badge.svg)](https://example.org)

Install Guide
=============

The tool reads files
from disk and writes
reports. It is fast.

## Options ##

- `--fast` makes it
  faster than before.
- `--slow` makes it slow.

| option | meaning |
|--------|---------|
| `-v`   | verbose |

```python
print("code, not prose.")
```

    indented code line

### Deep
Text under deep.
"""


def parse(tmp_path: Path, name: str, text: str) -> ParsedDocument:
    (tmp_path / name).write_text(text, encoding="utf-8", newline="")
    doc = read_document(tmp_path / name, tmp_path)
    assert isinstance(doc, ParsedDocument)
    return doc


def kinds(doc: ParsedDocument) -> list[tuple[str, str]]:
    return [(b.kind, doc.text[b.start : b.end]) for b in doc.blocks]


def prepare(doc: ParsedDocument, encoder: Encoder, root: Path) -> PreparedDocument:
    settings = make_settings(root / ".unused", root)
    return Ingestor(settings, encoder, None).prepare(doc)  # type: ignore[arg-type]


def test_markdown_blocks_title_and_sections(tmp_path: Path) -> None:
    doc = parse(tmp_path, "guide.md", MARKDOWN)
    assert doc.format == "markdown" and doc.title == "Front Title" and doc.meta["author"] == "Ann Lee"
    blocks = kinds(doc)
    assert blocks[0] == ("html", '<div align="center">\n<img src="logo.png">\n</div>')
    assert blocks[1][0] == "html"  # a badge-only paragraph is markup
    assert ("heading", "Install Guide") in blocks and ("heading", "Options") in blocks
    assert ("paragraph", "The tool reads files\nfrom disk and writes\nreports. It is fast.") in blocks
    assert ("list_item", "`--fast` makes it\n  faster than before.") in blocks
    assert ("table_row", "option | meaning") in blocks and ("table_row", "`-v`   | verbose") in blocks
    assert ("code", 'print("code, not prose.")') in blocks and ("code", "indented code line") in blocks
    deep = next(b for b in doc.blocks if doc.text[b.start : b.end] == "Text under deep.")
    assert doc.section_path(deep.start) == ("Front Title", "Install Guide", "Options", "Deep")


def test_markdown_title_never_from_html_or_code(tmp_path: Path) -> None:
    html_and_code = '<h1 align="center"><img src="x.png"></h1>\n\n```\n# not a heading\n```\n'
    doc = parse(tmp_path, "readme.md", html_and_code)
    assert doc.title == "readme" and not [b for b in doc.blocks if b.kind == "heading"]
    doc = parse(
        tmp_path, "second.md", "<p>badge</p>\n\n## Usage `cli`\n\nText.\n\n# Real [Title](http://x)\n"
    )
    assert doc.title == "Real Title"


def test_sentences_cross_hard_wraps_and_skip_code_and_html(tmp_path: Path, encoder: Encoder) -> None:
    doc = parse(tmp_path, "guide.md", MARKDOWN)
    prepared = prepare(doc, encoder, tmp_path)
    sentences = {doc.text[s:e] for c in prepared.chunks for s, e in c.sentences}
    assert "The tool reads files\nfrom disk and writes\nreports." in sentences
    assert "`--fast` makes it\n  faster than before." in sentences
    assert not any("<" in s or "print(" in s or "indented code" in s for s in sentences)
    titles = {c.title for c in prepared.chunks}
    assert not any("<" in t for t in titles)
    assert "Front Title › Install Guide › Options" in titles
    assert all(c.section and c.title == " › ".join(c.section) for c in prepared.chunks)
    assert [(a.title, a.author) for a in prepared.articles] == [("Front Title", "Ann Lee")]
    assert any(s.path == ["Front Title", "Install Guide", "Options"] for s in prepared.sections)


RST = """Tool Manual
===========

Intro paragraph that is
wrapped over lines.

Usage
-----

Run it like this::

    tool --run
    tool --stop

.. code-block:: python

   import tool

.. note:: Notes are prose.

- first item
  continued
- second item

:param name: the name

Details
~~~~~~~

+------+-------+
| a    | b     |
+------+-------+
"""


def test_rst_blocks_and_levels(tmp_path: Path) -> None:
    doc = parse(tmp_path, "manual.rst", RST)
    assert doc.format == "rst" and doc.title == "Tool Manual"
    blocks = kinds(doc)
    assert ("paragraph", "Intro paragraph that is\nwrapped over lines.") in blocks
    assert ("code", "tool --run\n    tool --stop") in blocks and ("code", "import tool") in blocks
    assert ("paragraph", "Notes are prose.") in blocks
    assert ("list_item", "first item\n  continued") in blocks and ("list_item", "second item") in blocks
    assert ("list_item", ":param name: the name") in blocks
    assert ("table_row", "a    | b") in blocks
    row = next(b for b in doc.blocks if b.kind == "table_row")
    assert doc.section_path(row.start) == ("Tool Manual", "Usage", "Details")


PLAIN = """Widget Specification

1. Introduction

   The widget format stores
   settings. Each line holds
   one value.

1.1 Details

   Detail text.

OPTIONS
       -f, --file=NAME
              Read settings from NAME instead of the
              default file.

       -q     Quiet.

   * a bullet that wraps
     onto a second line
   * another bullet
"""


def test_plain_text_paragraphs_headings_options(tmp_path: Path) -> None:
    doc = parse(tmp_path, "spec.txt", PLAIN)
    assert doc.title == "Widget Specification"
    blocks = kinds(doc)
    assert ("heading", "1. Introduction") in blocks and ("heading", "OPTIONS") in blocks
    assert ("paragraph", "The widget format stores\n   settings. Each line holds\n   one value.") in blocks
    assert (
        "list_item",
        "-f, --file=NAME\n              Read settings from NAME instead of the\n              default file.",
    ) in blocks
    assert ("list_item", "-q     Quiet.") in blocks
    assert ("list_item", "a bullet that wraps\n     onto a second line") in blocks
    bullet = next(b for b in doc.blocks if doc.text[b.start : b.end] == "another bullet")
    assert doc.section_path(bullet.start) == ("Widget Specification", "OPTIONS")
    detail = next(b for b in doc.blocks if doc.text[b.start : b.end] == "Detail text.")
    assert doc.section_path(detail.start) == ("Widget Specification", "1. Introduction", "1.1 Details")


def test_plain_text_column_tables_are_rows_and_justified_prose_is_not(tmp_path: Path) -> None:
    text = (
        "Manual page directories\n"
        "=======================\n\n"
        "   Directories are named after the language and territory of the\n"
        "   pages they hold, as the examples below show for a few of them.\n"
        "   Various examples:\n"
        "   Lang     Territory       Directory\n"
        "   English  United Kingdom  /usr/share/man/en_GB\n"
        "   French   Canada          /usr/share/man/fr_CA\n"
        "   Japanese Japan           /usr/share/man/ja_JP (or EUC-J) /x\n\n"
        "   be  disabled  if  levels  is set to zero (0).  A value  of  fifteen\n"
        "   will select all of them, which is  the  most  useful  setting  for\n"
        "   a  machine  whose  jobs  must  all  be  logged  at  all  times.\n"
    )
    doc = parse(tmp_path, "dirs.txt", text)
    rows = [doc.text[b.start : b.end] for b in doc.blocks if b.kind == "table_row"]
    assert rows == [
        "Lang     Territory       Directory",
        "English  United Kingdom  /usr/share/man/en_GB",
        "French   Canada          /usr/share/man/fr_CA",
        "Japanese Japan           /usr/share/man/ja_JP (or EUC-J) /x",  # one gap hidden by a space
    ]
    assert ("paragraph", "Various examples:") in [
        (k, t.split("\n")[-1].strip()) for k, t in kinds(doc)
    ]  # the lead-in ends its paragraph
    justified = [t for k, t in kinds(doc) if k == "paragraph" and t.startswith("be  disabled")]
    assert len(justified) == 1 and justified[0].endswith("at  all  times.")


def test_unwrapped_text_keeps_the_page_pipeline(tmp_path: Path) -> None:
    line = "A long paragraph on one line, as scraped pages have them, " * 5
    doc = parse(tmp_path, "page.txt", f"Title Of Page\n{line}\n{line}\n")
    assert doc.blocks == () and doc.title is None


def test_cleaning_keeps_first_copies_code_tables_headings_lists(tmp_path: Path) -> None:
    note = "Fixed a crash when the config file is empty and the cookies option is set."
    text = (
        "# Changelog\n\n## 1.1\n\n### Fixed\n\n- " + note + "\n\n"
        "(c) 2020 handling of copyright lines was fixed in the parser for all users.\n\n"
        "```\nrepeat()\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "## 1.0\n\n### Fixed\n\n- " + note + "\n\n```\nrepeat()\n```\n\n"
        "## 0.9\n\n### Fixed\n\n- " + note + "\n\n```\nrepeat()\n```\n\n<div>sponsor</div>\n\nRead more\n"
    )
    doc = parse(tmp_path, "CHANGES.md", text)
    result = clean(doc.text, doc.blocks)
    dropped = {doc.text[d.start : d.end]: d.reason for d in result.dropped}
    assert dropped == {"<div>sponsor</div>": MARKUP, "Read more": "navigation or newsletter"}
    kept = " ".join(doc.text[s:e] for s, e in result.kept)
    assert kept.count("### Fixed") == 0 and kept.count("Fixed\n") == 0  # headings kept without marks
    assert kept.count(note) == 3 and kept.count("repeat()") == 3 and "(c) 2020" in kept
    assert "1 | 2" in kept


def test_unreadable_text_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_bytes(b"caf\xe9")
    (tmp_path / "bad.rst").write_bytes(b"\x00\x01")
    md, rst = read_document(tmp_path / "bad.md", tmp_path), read_document(tmp_path / "bad.rst", tmp_path)
    assert isinstance(md, ReadProblem) and "not UTF-8" in md.reason
    assert isinstance(rst, ReadProblem) and "binary" in rst.reason


def test_real_files_sections(encoder: Encoder) -> None:
    rich = read_document(TECHDOCS / "rich-readme.md", TECHDOCS)
    assert isinstance(rich, ParsedDocument) and rich.title == "Rich Library"
    tar = read_document(PLAINTEXT / "tar.1.txt", PLAINTEXT)
    assert isinstance(tar, ParsedDocument)
    assert tar.title == "tar - an archiving utility"  # the NAME line, not the "TAR(1) … TAR(1)" header
    headings = [tar.text[b.start : b.end] for b in tar.blocks if b.kind == "heading"]
    assert headings[:4] == ["NAME", "SYNOPSIS", "NOTE", "DESCRIPTION"] and "OPTIONS" in headings
    prepared = prepare(tar, encoder, PLAINTEXT)
    create = next(c for c in prepared.chunks if "Create a new archive." in c.text)
    assert create.section[-1] == "DESCRIPTION"  # tar(1) lists its operation modes there
    sentences = [tar.text[s:e] for s, e in create.sentences]
    assert any(s.startswith("-c, --create\n") and "Create a new archive." in s for s in sentences)
    # A hard-wrapped sentence of the NOTE section is quoted whole, not cut at the line end.
    note = next(c for c in prepared.chunks if c.section[-1] == "NOTE")
    quoted = [tar.text[s:e] for s, e in note.sentences]
    assert quoted[0] == "NOTE" and quoted[1] == "This manpage is a short description of GNU tar."
    assert quoted[2].startswith("For a detailed discus") and quoted[2].endswith("in texinfo format.")
    rich_chunks = prepare(rich, encoder, TECHDOCS).chunks
    quoted = [rich.text[s:e] for c in rich_chunks for s, e in c.sentences]
    assert not any(q.lstrip().startswith("<") or "![" in q for q in quoted)


@pytest.mark.parametrize("root", [TECHDOCS, PLAINTEXT], ids=["techdocs", "plaintext"])
def test_offset_invariant_over_every_chunk_and_sentence(root: Path, encoder: Encoder) -> None:
    for path in sorted(root.iterdir()):
        doc = read_document(path, root)
        assert isinstance(doc, ParsedDocument), path
        with open(path, encoding="utf-8", newline="") as handle:
            raw = handle.read()
        prepared = prepare(doc, encoder, root)
        assert prepared.chunks, path
        for chunk in prepared.chunks:
            assert raw[chunk.start : chunk.end] == chunk.text
            assert chunk.section and chunk.section[0] == doc.title
            # Every chunk fits the model with its title (tables with borders once overflowed it).
            model_input, _ = embedding_input(chunk.title, chunk.text)
            assert encoder.count_tokens(model_input) <= encoder.max_seq_length, (path, chunk.title)
            for s, e in chunk.sentences:
                assert chunk.start <= s < e <= chunk.end
                assert raw[s:e] == raw[s:e].strip()
        for block in doc.blocks:
            assert raw[block.start : block.end].strip() == raw[block.start : block.end]


def test_cleaning_report_finds_no_violation_on_text_corpora(capsys: pytest.CaptureFixture[str]) -> None:
    assert cleaning_report.main(["--corpus", str(TECHDOCS), "--corpus", str(PLAINTEXT)]) == 0
    out = capsys.readouterr().out
    assert "techdocs:" in out and "plaintext:" in out and "VIOLATION" not in out
