"""Format readers: HTML main text and metadata, encodings, PDFs made by the test itself."""
import io

import pytest

from rag import readers

import pdfmaker


def make_pdf(pages: list[str], title: str = "Test Report") -> bytes:
    """A PDF with one paragraph per page, made by tests/pdfmaker.py (no PDF library)."""
    return pdfmaker.make_pdf([[text] for text in pages], {"Title": title, "Author": "Ada Analyst",
                                                          "CreationDate": "D:20240315120000"})


HTML = """<html><head><title>Page title</title><meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2024-05-06T10:00:00Z"><style>p{color:red}</style>
<script>var secret = "SCRIPT TEXT";</script></head><body><nav>Home | About NAVIGATION</nav>
<main><h1>Main heading</h1><p>First paragraph with <b>bold</b> &amp; entities.</p>
<p style="display:none">HIDDEN TEXT</p><div hidden>ALSO HIDDEN</div><!-- COMMENT TEXT -->
<p>Second paragraph.</p></main><footer>FOOTER TEXT</footer></body></html>"""


def test_html_keeps_main_text_and_metadata():
    ex = readers.read("page.html", HTML.encode("utf-8"))
    assert ex.text.split("\n\n") == ["Main heading", "First paragraph with bold & entities.", "Second paragraph."]
    assert (ex.title, ex.author, ex.date) == ("Page title", "Jane Doe", "2024-05-06")
    for junk in ("SCRIPT", "color:red", "NAVIGATION", "HIDDEN", "COMMENT", "FOOTER"):
        assert junk not in ex.text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252"])
def test_text_encodings_decode_exactly(encoding):
    sentence = "The minister’s “café” visit cost €1.5 million."
    ex = readers.read("note.txt", sentence.encode(encoding))
    assert ex.text == sentence and "\ufffd" not in ex.text


def test_binary_and_unknown_types_are_refused():
    with pytest.raises(readers.UnsupportedDocument, match="binary"):
        readers.read("x.txt", bytes(range(256)) * 16)
    with pytest.raises(readers.UnsupportedDocument, match="unsupported file type"):
        readers.read("x.docx", b"PK\x03\x04")


def test_pdf_pages_and_metadata():
    ex = readers.read("report.pdf", make_pdf(["First page says hello.", "Second page says goodbye."]))
    assert ex.text == "First page says hello.\n\nSecond page says goodbye."
    assert ex.pages == (0, len("First page says hello.") + 2)
    assert (ex.title, ex.author, ex.date) == ("Test Report", "Ada Analyst", "2024-03-15")


def test_encrypted_textless_and_broken_pdfs_are_refused():
    from pypdf import PdfReader, PdfWriter
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Secret words."]))))
    w.encrypt("password")
    buf = io.BytesIO()
    w.write(buf)
    with pytest.raises(readers.UnsupportedDocument, match="encrypted"):
        readers.read("locked.pdf", buf.getvalue())
    blank = PdfWriter()
    blank.add_blank_page(612, 792)
    buf = io.BytesIO()
    blank.write(buf)
    with pytest.raises(readers.UnsupportedDocument, match="no text layer"):
        readers.read("scan.pdf", buf.getvalue())
    with pytest.raises(readers.UnsupportedDocument, match="unreadable PDF"):
        readers.read("broken.pdf", b"%PDF-1.4\nthis is not a pdf")
