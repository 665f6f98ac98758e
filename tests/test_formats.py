"""HTML, PDF and DOCX: generated and real documents read into text + blocks + pages, bad files refused
with a reason, and the offset invariant over every chunk and citation through the API."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import docx
import pytest
from fastapi.testclient import TestClient
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from tests.conftest import ask, make_settings
from verbatim.ingest.document import ParsedDocument
from verbatim.ingest.formats import read_document, supported_suffixes
from verbatim.ingest.formats.docx import read_docx
from verbatim.ingest.formats.encoding import decode_bytes
from verbatim.ingest.formats.html import read_html
from verbatim.ingest.formats.limits import ReadLimits
from verbatim.ingest.formats.pdf import read_pdf
from verbatim.ingest.index.embedder import Encoder
from verbatim.ingest.reader import ReadProblem
from verbatim.service.api.app import create_app
from verbatim.service.qa.engine import Engine
from verbatim.service.qa.schemas import AskRequest

DATA = Path(__file__).parent / "data"

PAGES = [
    ("Introduction", "The harbour crane lifts forty tonnes. It was installed in 1987 by the port authority."),
    ("Maintenance", "The crane is inspected every spring. Inspectors check the cables and the brakes."),
    ("Retirement", "The crane will be retired in 2031. A new electric crane replaces it the same year."),
]

HTML = """<!doctype html><html><head><meta charset="utf-8"><title>Lighthouse guide | Coast site</title></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li></ul></nav>
<header><p>Sign up for our newsletter</p></header>
<main><h1>The Lighthouse at Cape Ferro<a class="headerlink" href="#top">¶</a></h1>
<p>The lighthouse at Cape Ferro was built in 1872 from local granite. Its lamp could be seen
twenty-two nautical miles out to sea, and the keepers lived in the cottage beside the tower.</p>
<h2>Keepers</h2>
<p>Three keepers served at a time. They worked in shifts of four hours through the night and kept
the lamp trimmed and the lens polished, as the regulations of the lighthouse board required.</p>
<ul><li>Head keeper: Tomas Ferrer</li><li>Assistant keeper: Joan Puig</li></ul>
<h2>Light characteristics</h2>
<table><tr><th>Period</th><th>Colour</th></tr><tr><td>10 seconds</td><td>white</td></tr></table>
<p>The light was automated in 1989, and the last keeper left the cape in the spring of that year.</p>
</main><footer><p>© 2024 Coast site. All rights reserved.</p></footer></body></html>"""


def make_pdf(pages: list[tuple[str, str]] = PAGES, *, title: str | None = "Harbour crane notes") -> bytes:
    """A PDF with a text layer, one section (outline entry) per page."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    if title:
        pdf.set_title(title)
    for heading, body in pages:
        pdf.add_page()
        pdf.start_section(heading)
        pdf.set_font("helvetica", size=16)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, body)
    return bytes(pdf.output())


def make_scanned_pdf() -> bytes:
    """An image-only PDF (what a scanner makes): shapes, no text."""
    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 150, 200, style="F")
    return bytes(pdf.output())


def encrypt(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = ""
    document.add_paragraph("Ferry timetable", style="Title")
    document.add_heading("Winter service", level=1)
    document.add_paragraph("The winter ferry leaves the north pier at 07:40 and returns at 18:15.")
    document.add_paragraph("Bicycles travel free of charge.", style="List Bullet")
    document.add_paragraph("Dogs must be kept on a lead.", style="List Bullet")
    document.add_heading("Fares", level=2)
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Ticket", "Price"), ("Adult return", "12 euros")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Children under five travel free when accompanied by an adult.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb() -> bytes:
    """A valid-looking DOCX whose members inflate far beyond their compressed size."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<w:document/>" + b" " * (30 * 1024 * 1024))
    return out.getvalue()


def _texts(doc: ParsedDocument, kind: str) -> list[str]:
    return [doc.text[b.start : b.end] for b in doc.blocks if b.kind == kind]


# ------------------------------------------------------------------------------------------ readers


def test_html_main_content_with_structure() -> None:
    doc = read_html(Path("x.html"), "x.html", HTML.encode())
    assert isinstance(doc, ParsedDocument) and doc.converted and doc.format == "html"
    assert doc.title == "The Lighthouse at Cape Ferro"
    assert _texts(doc, "heading") == ["The Lighthouse at Cape Ferro", "Keepers", "Light characteristics"]
    assert [b.level for b in doc.blocks if b.kind == "heading"] == [1, 2, 2]
    assert _texts(doc, "list_item") == ["Head keeper: Tomas Ferrer", "Assistant keeper: Joan Puig"]
    assert _texts(doc, "table_row") == ["Period | Colour", "10 seconds | white"]
    assert "twenty-two nautical miles out to sea, and the keepers" in doc.text  # wraps are spaces
    for furniture in ("Home", "About us", "newsletter", "All rights reserved", "¶"):
        assert furniture not in doc.text
    assert doc.section_path(doc.text.index("10 seconds")) == (
        "The Lighthouse at Cape Ferro",
        "Light characteristics",
    )
    assert read_html(Path("x.html"), "x.html", HTML.encode()) == doc  # deterministic


def test_html_encodings_declared_and_mixed() -> None:
    latin = HTML.replace('charset="utf-8"', 'charset="iso-8859-1"').replace("Tomas", "Tomàs")
    doc = read_html(Path("a.html"), "a.html", latin.encode("iso-8859-1"))
    assert isinstance(doc, ParsedDocument) and "Head keeper: Tomàs Ferrer" in doc.text
    # UTF-8 with a stray Windows-1252 byte (mixed encodings): both characters survive.
    mixed = HTML.replace("Tomas", "Tomàs").encode("utf-8").replace(b"Joan", b"Jo\xe0n")
    doc = read_html(Path("m.html"), "m.html", mixed)
    assert isinstance(doc, ParsedDocument)
    assert "Tomàs Ferrer" in doc.text and "Joàn Puig" in doc.text
    text, how = decode_bytes(b"\xef\xbb\xbfplain")
    assert (text, how) == ("plain", "utf-8")


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"<html><body><script>var x = 1;</script></body></html>", b"\x00\x01\x02<<<>>>\xff" * 10],
)
def test_bad_html_is_a_reason(data: bytes) -> None:
    assert isinstance(read_html(Path("b.html"), "b.html", data), ReadProblem)


def test_truncated_html_still_reads_what_is_there() -> None:
    doc = read_html(Path("t.html"), "t.html", HTML.encode()[: HTML.index("<h2>Light")])
    assert isinstance(doc, ParsedDocument) and "Three keepers served at a time." in doc.text


def test_pdf_pages_and_outline_headings() -> None:
    doc = read_pdf(Path("c.pdf"), "c.pdf", make_pdf(), ReadLimits())
    assert isinstance(doc, ParsedDocument) and doc.format == "pdf" and doc.converted
    assert doc.title == "Harbour crane notes"
    assert [p.page for p in doc.pages] == [1, 2, 3]
    assert _texts(doc, "heading") == [h for h, _ in PAGES]
    for page, (heading, body) in zip(doc.pages, PAGES, strict=True):
        span = doc.text[page.start : page.end]
        assert span.startswith(heading) and body.split(".")[0] in span.replace("\n", " ")
        assert doc.page_at(page.start) == page.page
    assert doc.text.count("\n\n") >= 2  # pages are separated by a blank line
    assert read_pdf(Path("c.pdf"), "c.pdf", make_pdf(), ReadLimits()) == doc


def test_a_pdf_without_an_outline_has_its_capitalised_lines_as_headings() -> None:
    """A man page printed to PDF: no outline, no blank lines; its sections are lines in capitals."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    pdf.add_page()
    lines = [
        "CRANE(1)                     Harbour Manual                     CRANE(1)",
        "NAME",
        "crane - move containers from ship to quay",
        "DESCRIPTION",
        "If a load is given, crane lifts it before doing anything",
        "else. Otherwise it waits for the next ship to berth at the quay.",
        "ENVIRONMENT VARIABLES",
        "CRANE_WIND",
        "The wind speed above which the crane stops, in metres per second.",
        "A---M---B",
    ]
    for line in lines:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    doc = read_pdf(Path("crane.pdf"), "crane.pdf", bytes(pdf.output()), ReadLimits())
    assert isinstance(doc, ParsedDocument)
    headings = [doc.text[b.start : b.end] for b in doc.blocks if b.kind == "heading"]
    assert headings == ["NAME", "DESCRIPTION", "ENVIRONMENT VARIABLES"]  # not a variable, not a diagram
    paragraphs = [doc.text[b.start : b.end] for b in doc.blocks if b.kind == "paragraph"]
    # The sentence after DESCRIPTION is one paragraph, whole across its line break.
    assert "If a load is given, crane lifts it before doing anything\nelse. Otherwise it waits" in "".join(
        p for p in paragraphs if p.startswith("If a load")
    )


def test_bad_pdfs_have_reasons() -> None:
    good = make_pdf()
    cases = {
        "truncated": good[: len(good) // 3],
        "garbage": b"%PDF-1.7\n" + b"\x8f garbage " * 200,
        "not a pdf": b"hello, I am text with a .pdf suffix",
        "scanned": make_scanned_pdf(),
        "encrypted": encrypt(good, "secret"),
    }
    reasons = {name: read_pdf(Path("p.pdf"), "p.pdf", data, ReadLimits()) for name, data in cases.items()}
    assert all(isinstance(r, ReadProblem) for r in reasons.values()), reasons
    assert reasons["scanned"].reason == "no text layer; OCR it first"  # type: ignore[union-attr]
    assert reasons["encrypted"].reason == "encrypted PDF (password protected)"  # type: ignore[union-attr]
    assert "not a PDF" in reasons["not a pdf"].reason  # type: ignore[union-attr]
    many = read_pdf(Path("p.pdf"), "p.pdf", good, ReadLimits(max_pdf_pages=2))
    assert isinstance(many, ReadProblem) and "too many pages (3" in many.reason


def test_encrypted_pdf_with_empty_password_is_read() -> None:
    doc = read_pdf(Path("e.pdf"), "e.pdf", encrypt(make_pdf(), ""), ReadLimits())
    assert isinstance(doc, ParsedDocument) and "forty tonnes" in doc.text


def test_docx_styles_lists_and_tables_in_order() -> None:
    doc = read_docx(Path("f.docx"), "f.docx", make_docx(), ReadLimits())
    assert isinstance(doc, ParsedDocument) and doc.format == "docx" and doc.converted
    assert doc.title == "Ferry timetable"
    assert _texts(doc, "heading") == ["Ferry timetable", "Winter service", "Fares"]
    assert _texts(doc, "list_item") == ["Bicycles travel free of charge.", "Dogs must be kept on a lead."]
    assert _texts(doc, "table_row") == ["Ticket | Price", "Adult return | 12 euros"]
    assert doc.text.index("12 euros") < doc.text.index("Children under five")
    assert doc.section_path(doc.text.index("12 euros")) == ("Ferry timetable", "Winter service", "Fares")


def test_bad_docx_have_reasons() -> None:
    good = make_docx()
    truncated = read_docx(Path("d.docx"), "d.docx", good[: len(good) // 2], ReadLimits())
    assert isinstance(truncated, ReadProblem) and "not a readable zip" in truncated.reason
    text = read_docx(Path("d.docx"), "d.docx", b"plain text, not a zip", ReadLimits())
    assert isinstance(text, ReadProblem) and "not a DOCX" in text.reason
    bomb = make_zip_bomb()
    assert len(bomb) < 200_000
    refused = read_docx(Path("d.docx"), "d.docx", bomb, ReadLimits(max_docx_uncompressed_bytes=10_000_000))
    assert isinstance(refused, ReadProblem) and "zip bomb guard" in refused.reason
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("word/document.xml", "<not xml")
    assert isinstance(read_docx(Path("d.docx"), "d.docx", broken.getvalue(), ReadLimits()), ReadProblem)


def test_real_samples_read() -> None:
    html = read_document(DATA / "policy-ch-docs.html", DATA)
    assert isinstance(html, ParsedDocument) and html.title and html.title.startswith("12. Documentation")
    assert any(b.kind == "heading" and b.level == 2 for b in html.blocks)
    pdf = read_document(DATA / "devref-developer-duties.pdf", DATA)
    assert isinstance(pdf, ParsedDocument) and len(pdf.pages) == 6
    assert "3.1. Package Maintainer's Duties¶" in _texts(pdf, "heading")
    docx_doc = read_document(DATA / "devref-new-maintainer.docx", DATA)
    assert isinstance(docx_doc, ParsedDocument) and "2.1. Getting started¶" in _texts(docx_doc, "heading")
    for doc in (html, pdf, docx_doc):
        for block in doc.blocks:
            assert doc.text[block.start : block.end] == doc.text[block.start : block.end].strip()


def test_size_limit_and_supported_list(tmp_path: Path) -> None:
    (tmp_path / "big.html").write_bytes(HTML.encode() * 10)
    problem = read_document(tmp_path / "big.html", tmp_path, max_bytes=1000)
    assert isinstance(problem, ReadProblem) and "too large" in problem.reason
    assert {".html", ".htm", ".pdf", ".docx"} <= set(supported_suffixes())


# ----------------------------------------------------------------------------- ingest, API, invariant


@pytest.fixture
def mixed_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    (corpus / "bad").mkdir(parents=True)
    (corpus / "lighthouse.html").write_text(HTML, encoding="utf-8")
    (corpus / "crane.pdf").write_bytes(make_pdf())
    (corpus / "ferry.docx").write_bytes(make_docx())
    (corpus / "notes.txt").write_text("Plain notes.\n\nThe ferry office opens at nine.\n", encoding="utf-8")
    for name in ("policy-ch-docs.html", "devref-developer-duties.pdf", "devref-new-maintainer.docx"):
        shutil.copy(DATA / name, corpus / name)
    good = make_pdf()
    (corpus / "bad" / "truncated.pdf").write_bytes(good[: len(good) // 3])
    (corpus / "bad" / "scanned.pdf").write_bytes(make_scanned_pdf())
    (corpus / "bad" / "locked.pdf").write_bytes(encrypt(good, "secret"))
    (corpus / "bad" / "bomb.docx").write_bytes(make_zip_bomb())
    (corpus / "bad" / "truncated.docx").write_bytes(make_docx()[:2000])
    (corpus / "bad" / "huge.html").write_bytes(b"<p>" + b"x" * 3_000_000 + b"</p>")
    (corpus / "bad" / "empty.html").write_bytes(b"<html><body></body></html>")
    (corpus / "bad" / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    return corpus


def test_ingest_and_offset_invariant_for_every_format(
    tmp_path: Path, mixed_corpus: Path, encoder: Encoder
) -> None:
    settings = make_settings(
        tmp_path / "data", mixed_corpus, max_file_bytes=2_000_000, max_docx_bytes=10_000_000
    )
    engine = Engine(settings, encoder=encoder)
    report = engine.ingest(None)
    outcomes = {f["source"]: (f["outcome"], f["reason"]) for f in report.files}
    assert len(outcomes) == 15  # every file accounted for
    reasons = {s: r for s, (o, r) in outcomes.items() if o == "skipped"}
    assert reasons["bad/scanned.pdf"] == "no text layer; OCR it first"
    assert reasons["bad/locked.pdf"] == "encrypted PDF (password protected)"
    assert "zip bomb guard" in reasons["bad/bomb.docx"]
    assert "not a readable zip" in reasons["bad/truncated.docx"]
    assert "malformed or truncated PDF" in reasons["bad/truncated.pdf"]
    assert "too large" in reasons["bad/huge.html"]
    assert "no readable text" in reasons["bad/empty.html"]
    assert "unsupported format '.jpg'" in reasons["bad/photo.jpg"]
    assert report.indexed == 7 and len(reasons) == 8

    snap = engine.snapshot()
    assert {d.format for d in snap.documents.values()} == {"html", "pdf", "docx", "text"}
    client = TestClient(create_app(settings, engine=engine, start=False))
    texts: dict[str, str] = {}
    for source, record in snap.documents.items():
        got = client.get(f"/documents/{source}")
        assert got.status_code == 200, got.text
        body = got.json()
        texts[source] = body["text"]
        assert body["format"] == record.format
        if record.format == "pdf":
            assert [p["page"] for p in body["pages"]] == list(range(1, len(body["pages"]) + 1))
        else:
            assert body["pages"] == []
        for section in body["sections"]:
            assert body["text"][section["start"] : section["end"]].startswith(section["path"][-1])
    chunks = [c for source in snap.documents for c in snap.document_chunks(source)]
    assert len(chunks) == snap.chunk_count
    for chunk in chunks:
        assert texts[chunk.source][chunk.start : chunk.end] == chunk.text
        record = snap.documents[chunk.source]
        if record.format == "pdf":
            page = next(p for p in record.pages if p.start <= chunk.start < p.end)
            assert chunk.page == page.page
        else:
            assert chunk.page is None
    assert {c.page for c in chunks if c.source == "crane.pdf"} == {1, 2, 3}

    questions = [
        ("When will the harbour crane be retired?", "crane.pdf"),
        ("When was the lighthouse at Cape Ferro built?", "lighthouse.html"),
        ("What does the adult return ferry ticket cost?", "ferry.docx"),
        ("When was the lighthouse automated?", "lighthouse.html"),
    ]
    cited = 0
    for question, source in questions:
        answer = client.post("/ask", json={"question": question, "sources": [source]}).json()
        for passage in answer["passages"]:
            assert texts[passage["source"]][passage["start"] : passage["end"]] == passage["text"]
        for citation in answer["citations"]:
            cited += 1
            assert texts[citation["source"]][citation["start"] : citation["end"]] == citation["quote"]
            record = snap.documents[citation["source"]]
            if record.format == "pdf":
                assert citation["page"] == record.page_at(citation["start"])
    assert cited >= 2
    retired = ask(
        engine, AskRequest(question="When will the harbour crane be retired?", sources=["crane.pdf"])
    )
    assert any(c.page == 3 for c in retired.citations)

    # Unchanged files are not read again; a broken file does not disturb the index.
    again = engine.ingest(None)
    assert again.indexed == 0 and again.unchanged == 7 and again.embedded_chunks == 0
    assert engine.snapshot().chunk_count == snap.chunk_count


def test_extracted_text_is_swept_with_its_document(tmp_path: Path, encoder: Encoder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "crane.pdf").write_bytes(make_pdf())
    engine = Engine(make_settings(tmp_path / "data", corpus), encoder=encoder)
    engine.ingest(None)
    record = engine.snapshot().documents["crane.pdf"]
    assert engine.store.get_text(record.sha256, record.pipeline) == engine.document("crane.pdf").text
    (corpus / "crane.pdf").write_bytes(make_pdf(PAGES[:2]))
    report = engine.ingest(None)
    assert report.indexed == 1
    assert engine.store.get_text(record.sha256, record.pipeline) is None  # the old version's text went
    assert "2031" not in engine.document("crane.pdf").text
    (corpus / "crane.pdf").unlink()
    assert engine.ingest(None).removed == 1
    assert engine.store._sweep_texts(engine.store.manifest()) == 0


def test_html_declared_main_region_is_read_whole_without_furniture(tmp_path: Path) -> None:
    """A page that declares its main content (<main> or role="main") is read by its own structure:
    every section of it, nothing of the navigation around it."""
    sections = "".join(
        f"<h2>Part {i}</h2><p>Paragraph {i} says something specific about topic number {i}.</p>"
        f"<pre>code_{i}()</pre>"
        for i in range(1, 6)
    )
    page = (
        "<html><head><title>Guide</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/x'>Next topic</a></nav>"
        f"<div role='main'><h1>The Guide</h1>{sections}</div>"
        "<footer>Copyright and links</footer></body></html>"
    )
    (tmp_path / "guide.html").write_text(page, encoding="utf-8")
    doc = read_document(tmp_path / "guide.html", tmp_path)
    assert isinstance(doc, ParsedDocument) and doc.title == "The Guide"
    headings = [doc.text[b.start : b.end] for b in doc.blocks if b.kind == "heading"]
    assert headings == ["The Guide"] + [f"Part {i}" for i in range(1, 6)]
    assert "Next topic" not in doc.text and "Copyright" not in doc.text


def test_html_headings_are_kept_when_an_extractor_would_drop_them(tmp_path: Path) -> None:
    """DocBook-style pages put headings in title blocks that main-content extractors take for
    boilerplate: without a declared main region, the page's own structure is used when the
    extraction lost the headings."""
    chapters = "".join(
        f"<div class='section'><div class='titlepage'><div><div><h2 class='title'>7.{i}. Question {i}?</h2>"
        f"</div></div></div><p>The answer to question {i} is a sentence long enough to be content.</p></div>"
        for i in range(1, 7)
    )
    page = f"<html><body><div class='chapter'><h1>Chapter 7. Basics</h1>{chapters}</div></body></html>"
    (tmp_path / "faq.html").write_text(page, encoding="utf-8")
    doc = read_document(tmp_path / "faq.html", tmp_path)
    assert isinstance(doc, ParsedDocument)
    headings = [doc.text[b.start : b.end] for b in doc.blocks if b.kind == "heading"]
    assert [f"7.{i}. Question {i}?" for i in range(1, 7)] == [h for h in headings if h.startswith("7.")]
    assert doc.section_path(doc.text.index("question 3 is"))[-1] == "7.3. Question 3?"


def test_html_inline_markup_keeps_document_order(tmp_path: Path) -> None:
    """Inline code and links inside paragraphs and list items stay where the page has them."""
    page = (
        "<html><body><main><h1>Sorting</h1>"
        "<p>Exceptions have a method <code><span>add_note(note)</span></code> that accepts a string.</p>"
        "<ul><li><p>Use <a href='x'><code><span>locale.strxfrm()</span></code></a> for a key function or "
        "<a href='y'><code>locale.strcoll()</code></a> for a comparison function.</p></li></ul>"
        "</main></body></html>"
    )
    (tmp_path / "p.html").write_text(page, encoding="utf-8")
    doc = read_document(tmp_path / "p.html", tmp_path)
    assert isinstance(doc, ParsedDocument)
    assert "a method add_note(note) that accepts a string." in doc.text
    assert (
        "Use locale.strxfrm() for a key function or locale.strcoll() for a comparison function." in doc.text
    )
