"""File bytes -> plain text + metadata, per format (.txt/.md, .html/.htm, .pdf). The only module that
imports charset_normalizer. PDFs are read by rag.pdf in a child process with a time and memory limit,
so a decompression bomb costs that process, never the app."""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from .schema import RagError

SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
MAX_PAGES, PARSE_SECONDS = 2000, 60.0      # defaults of Settings.max_pages / parse_seconds


class UnsupportedDocument(RagError):
    """A file that cannot be ingested; the message says why."""


@dataclass(frozen=True)
class Extracted:
    text: str                           # paragraphs separated by blank lines
    title: str = ""
    author: str = ""
    date: str = ""
    pages: tuple[int, ...] = ()         # PDF: offset in `text` where each page starts


def decode(data: bytes, name: str) -> str:
    """Bytes -> text: UTF-16 with a BOM (or a Latin-script one without), UTF-8 with or without BOM,
    then a detected encoding (charset-normalizer, e.g. Windows-1252). Binary data is refused,
    never mangled."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise UnsupportedDocument(f"{name}: invalid UTF-16 text; re-save it as UTF-8") from None
    odd, even = data[1::2][:4096], data[0::2][:4096]
    for zeros, codec in ((odd, "utf-16-le"), (even, "utf-16-be")):    # UTF-16 without a BOM
        other = even if zeros is odd else odd
        if len(data) % 2 == 0 and zeros and zeros.count(0) > 0.9 * len(zeros) and b"\x00" not in other:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                break
            if sum(c < " " and c not in "\t\n\r\f" for c in text[:4096]) <= 8:
                return text
    # NUL or many control bytes mean binary, even when the bytes happen to be valid UTF-8 (all below 0x80)
    if b"\x00" in data or sum(b < 9 or 13 < b < 32 for b in data[:4096]) > 8:
        raise UnsupportedDocument(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")      # the commonest legacy encoding; strict, so it can fail
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes
    best = from_bytes(data).best()
    if best is None:
        raise UnsupportedDocument(f"{name}: the text encoding could not be recognised; re-save it as UTF-8")
    return str(best)


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


def read(name: str, data: bytes, max_pages: int = MAX_PAGES, seconds: float = PARSE_SECONDS) -> Extracted:
    """Extract one file's text and metadata according to its extension."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in (".txt", ".md"):
        return Extracted(decode(data, name))
    if suffix in (".html", ".htm"):
        return html_text(decode(data, name))
    if suffix == ".pdf":
        return pdf_text(data, name, max_pages, seconds)
    raise UnsupportedDocument(f"{name}: unsupported file type; use {', '.join(SUFFIXES)}")


# -- HTML: main text only --------------------------------------------------------------------------
_SKIP = {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button",
         "svg", "iframe", "object", "select", "head"}
_BLOCK = {"p", "div", "section", "article", "main", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
          "blockquote", "pre", "tr", "table", "br", "hr", "dd", "dt", "figcaption"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


class _Html(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []     # (tag, hides its content)
        self.parts: list[str] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "meta":
            key = (a.get("name") or a.get("property") or "").lower()
            if key and a.get("content"):
                self.meta.setdefault(key, a["content"].strip())
            return
        if tag == "time" and a.get("datetime"):
            self.meta.setdefault("time", a["datetime"])
        self._in_title = tag == "title"
        hides = (tag in _SKIP or "hidden" in a or a.get("aria-hidden") == "true"
                 or bool(_HIDDEN.search(a.get("style", ""))))
        if tag in _BLOCK:
            self.parts.append("\n\n")
        if tag not in _VOID:
            self.stack.append((tag, hides))

    def handle_endtag(self, tag):
        self._in_title = False
        for i in range(len(self.stack) - 1, -1, -1):     # tolerate unclosed tags
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not any(h for _, h in self.stack):
            self.parts.append(re.sub(r"\s+", " ", data))


def html_text(source: str) -> Extracted:
    """Visible main text of a page (no script, style, navigation or hidden text) and its metadata."""
    p = _Html()
    p.feed(source)
    p.close()
    text = "\n\n".join(" ".join(b.split()) for b in "".join(p.parts).split("\n\n") if b.strip())
    m = p.meta
    title = m.get("og:title") or " ".join(p.title.split())
    date = m.get("article:published_time") or m.get("date") or m.get("dc.date") or m.get("time", "")
    return Extracted(text, title, m.get("author", "") or m.get("dc.creator", ""), date[:10])


# -- PDF: text layer, in a limited child process (rag.pdf) ----------------------------------------
def pdf_text(data: bytes, name: str, max_pages: int = MAX_PAGES, seconds: float = PARSE_SECONDS) -> Extracted:
    """The PDF's text layer page by page. Encrypted, text-less or over-limit files are refused."""
    from . import pdf
    try:
        got = pdf.read(data, max_pages, seconds)
    except pdf.PdfRefused as exc:
        raise UnsupportedDocument(f"{name}: {exc}") from None
    starts, text = [], ""
    for page in got.pages:
        starts.append(len(text) + (2 if text else 0))
        text = f"{text}\n\n{page}" if text else page
    if not text.strip():
        raise UnsupportedDocument(f"{name}: the PDF has no text layer (a scan?); run OCR on it first")
    return Extracted(text, got.title, got.author, got.date, tuple(starts))
