"""File bytes -> plain text + metadata, per format (.txt/.md, .html/.htm, .pdf): the reader for each
format and the size limit. Encodings are rag.readers.decoding's; a page's main text is rag.readers.html_main's
(trafilatura), or rag.readers.html_plain's for pages too large for it. PDFs are read by rag.readers.pdf in a child
process with a time and memory limit, so a decompression bomb costs that process, never the app."""
from __future__ import annotations

from .decoding import UnsupportedDocument, decode, normalize  # noqa: F401  (re-exported)
from .extracted import Extracted  # noqa: F401  (re-exported)

SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
MAX_PAGES, PARSE_SECONDS = 2000, 60.0      # defaults of Settings.max_pages / parse_seconds


def too_big(name: str, size: int, limit: int) -> UnsupportedDocument:
    return UnsupportedDocument(f"{name}: {size:,} bytes is over the {limit:,}-byte limit "
                               "(RAG_MAX_FILE_BYTES); split the file or raise the limit")


def load_file(path, limit: int) -> bytes:
    """A file's bytes, refused (UnsupportedDocument) when over `limit` or unreadable."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise too_big(path.name, size, limit)
        return path.read_bytes()
    except OSError as exc:
        raise UnsupportedDocument(f"{path.name}: cannot be read ({exc.strerror}); check its permissions") from None


def read(name: str, data: bytes, *, max_pages: int = MAX_PAGES, seconds: float = PARSE_SECONDS) -> Extracted:
    """Extract one file's text and metadata according to its extension."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in (".txt", ".md"):
        return Extracted(decode(data, name))
    if suffix in (".html", ".htm"):
        return html_text(decode(data, name, markup=True))
    if suffix == ".pdf":
        return pdf_text(data, name, max_pages=max_pages, seconds=seconds)
    raise UnsupportedDocument(f"{name}: unsupported file type; use {', '.join(SUFFIXES)}")


def html_text(source: str) -> Extracted:
    """A page's main text and metadata: trafilatura's extraction, or the whole visible text of a page
    too large or too deep for it (or where it finds nothing). Script, style and hidden text never count."""
    from . import html_main, html_plain      # imported on first use: trafilatura takes 0.4 s to import
    return html_main.read(source) or html_plain.read(source)


# -- PDF: text layer, in a limited child process (rag.readers.pdf) ----------------------------------------
def pdf_text(data: bytes, name: str, *, max_pages: int = MAX_PAGES, seconds: float = PARSE_SECONDS) -> Extracted:
    """The PDF's text layer page by page. Encrypted, text-less or over-limit files are refused."""
    from . import pdf
    try:
        got = pdf.read(data, max_pages, seconds)
    except pdf.PdfRefused as exc:
        raise UnsupportedDocument(f"{name}: {exc}") from None
    starts, text = [], ""
    for page in map(normalize, got.pages):
        starts.append(len(text) + (2 if text else 0))
        text = f"{text}\n\n{page}" if text else page
    if not text.strip():
        raise UnsupportedDocument(f"{name}: the PDF has no text layer (a scan?); run OCR on it first")
    return Extracted(text, normalize(got.title), normalize(got.author), got.date, tuple(starts))
