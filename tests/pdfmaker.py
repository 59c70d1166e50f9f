"""A minimal PDF writer for tests: real PDF files (Helvetica text, one content stream per page),
made without any PDF library, so the reader is tested on files it did not write itself."""
from __future__ import annotations

import zlib


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_bomb(megabytes: int = 256) -> bytes:
    """A one-page PDF whose content stream is deflated twice: a few KB that inflate to `megabytes`."""
    c = zlib.compressobj(1)
    inner = b"".join([c.compress(b" " * (1 << 20)) for _ in range(megabytes)] + [c.flush()])
    return make_pdf([["Hello."]], stream=zlib.compress(inner, 9), filters="[/FlateDecode /FlateDecode]")


def make_pdf(pages: list[list[str]], info: dict[str, str] | None = None, width: int = 80,
             compress: bool = True, stream: bytes | None = None, filters: str = "") -> bytes:
    """PDF bytes: each page is a list of paragraphs, wrapped at `width` characters, with a blank
    line's gap between paragraphs. `info` becomes the document information dictionary."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    page_ids, pages_id = [], len(objects) + 2 * len(pages) + 1
    for paragraphs in pages:
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        for para in paragraphs:
            line = ""
            for word in para.split():
                if line and len(line) + 1 + len(word) > width:
                    ops.append(f"({_esc(line)}) Tj T*")
                    line = word
                else:
                    line = f"{line} {word}" if line else word
            ops.append(f"({_esc(line)}) Tj T* T*")
        ops.append("ET")
        plain = "\n".join(ops).encode("cp1252")
        data, kind = (stream, filters) if stream is not None else (
            (zlib.compress(plain), "/FlateDecode") if compress else (plain, ""))
        head = b"<< /Length %d" % len(data) + (b" /Filter " + kind.encode() if kind else b"") + b" >>"
        content = add(head + b"\nstream\n" + data + b"\nendstream")
        page_ids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)))
    kids = b" ".join(b"%d 0 R" % i for i in page_ids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))) == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    info_id = None
    if info:
        fields = b" ".join(b"/%s (%s)" % (k.encode(), _esc(v).encode("cp1252")) for k, v in info.items())
        info_id = add(b"<< " + fields + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    trailer += (b" /Info %d 0 R" % info_id if info_id else b"") + b" >>"
    out += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
