"""File bytes -> text, for every text format: which encoding, what counts as binary, and the normal
form of the decoded text (NFC, no soft hyphens, no NULs). The only module that imports charset_normalizer.

The encoding is decided in this order: a byte-order mark; UTF-16 without one (zeros every other byte);
a declared charset (markup only: <meta charset>, http-equiv, the XML declaration); UTF-8, tolerating a
few stray invalid bytes; then detection (Windows-1252 when the text reads as Western, else charset-normalizer).
"""
from __future__ import annotations

import codecs
import re
import unicodedata

from ..schema import RagError


class UnsupportedDocument(RagError):
    """A file that cannot be ingested; the message says why (re-exported by rag.readers)."""


_SAMPLE = 4096
_DECLARED = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]{1,40})"""
                       rb"""|^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:+-]{1,40})""", re.I)
# What a declaration means in practice (the WHATWG encoding standard's aliases): pages labelled
# gb2312/GBK use GB18030's characters, "latin-1" and "ascii" pages are Windows-1252, and so on.
_SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "iso8859-1": "cp1252", "ascii": "cp1252",
             "shift_jis": "cp932", "euc_kr": "cp949", "big5": "big5hkscs", "tis-620": "cp874",
             "iso8859-11": "cp874", "iso8859-9": "cp1254", "shift_jis_2004": "cp932", "shift_jisx0213": "cp932"}
_PROBE = b'<meta charset="a+-b">\\u0041 ~'            # bytes every ASCII-compatible code reads as ASCII
_TEXT_BYTES = bytes([*range(9, 14), 27, *range(32, 256)])    # not control bytes (ESC: ISO-2022-JP)
_STRAY = re.compile("[\udc80-\udcff]")                  # an invalid byte kept by surrogateescape
_RUN = re.compile("[^\x00-\x7f]{3,}")                     # three non-ASCII characters in a row


def normalize(text: str) -> str:
    """The form every document text (and question) is compared in: NFC, soft hyphens and NULs removed."""
    text = text.replace("\u00ad", "").replace("\x00", "")
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def decode(data: bytes, name: str, markup: bool = False) -> str:
    """Bytes -> normalized text. `markup`: the file is HTML or XML, so a declared charset counts.

    Raises:
        UnsupportedDocument: binary data (control bytes other than NUL, or invalid UTF-16); never mangled.
    """
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return normalize(_strict(data, codec, name))
    if (text := _utf16_without_bom(data)) is not None:
        return normalize(text)
    if b"\x00" in data:                  # a few NULs in a text file are noise, not a sign of binary
        data = data.replace(b"\x00", b"")
    if len(data[:_SAMPLE].translate(None, _TEXT_BYTES)) > 8:
        raise UnsupportedDocument(f"{name}: looks like a binary file, not text")
    if data.startswith(codecs.BOM_UTF8):
        return normalize(_utf8(data[3:])[0])
    text, stray, wide = _utf8(data)
    # a legacy declaration counts unless the page is valid UTF-8 and not ASCII (re-saved as UTF-8)
    if markup and (stray or text.isascii()) and (declared := _declared(data)):
        legacy = data.decode(declared, "replace")
        if legacy.count("\ufffd") * 100 <= len(legacy):   # a wrong declaration garbles far more than 1%
            return normalize(legacy)
    if not stray or wide >= 4 * stray:   # mostly valid UTF-8: the stray bytes are repaired, not re-guessed
        return normalize(text)
    return normalize(_detect(data) or text)


def _strict(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise UnsupportedDocument(f"{name}: invalid {codec.upper()} text; re-save it as UTF-8") from None


def _utf16_without_bom(data: bytes) -> str | None:
    odd, even = data[1::2][:_SAMPLE], data[0::2][:_SAMPLE]
    for zeros, other, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if len(data) % 2 == 0 and zeros and zeros.count(0) > 0.9 * len(zeros) and b"\x00" not in other:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                return None
            if sum(c < " " and c not in "\t\n\r\f" for c in text[:_SAMPLE]) <= 8:
                return text
    return None


def _declared(data: bytes) -> str | None:
    """The codec a page declares in its first 4 KB, as Python names it; None if none or unknown."""
    m = _DECLARED.search(data[:_SAMPLE])
    if not m:
        return None
    try:
        codec = codecs.lookup((m.group(1) or m.group(2)).decode("ascii")).name
        codec = _SUPERSET.get(codec, codec)
        if codec.startswith("utf-8") or _PROBE.decode(codec, "replace") != _PROBE.decode("ascii"):
            return None         # UTF-8 comes next; a page cannot be in a code its ASCII declaration isn't
    except (LookupError, UnicodeError):     # (UTF-16, UTF-7, EBCDIC…) nor in one that is no text code
        return None
    return codec


def _utf8(data: bytes) -> tuple[str, int, int]:
    """(text, stray bytes, valid non-ASCII characters). A stray byte is read as Windows-1252, where
    such bytes usually come from (a pasted snippet), or U+FFFD where that code has no character."""
    try:
        return data.decode("utf-8"), 0, 0
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
    stray = len(_STRAY.findall(text))
    wide = _non_ascii(text) - stray
    fixed = _STRAY.sub(lambda m: bytes([ord(m.group()) - 0xDC00]).decode("cp1252", "replace"), text)
    return fixed, stray, wide


def _detect(data: bytes) -> str | None:
    """Legacy text: Windows-1252 when it reads as Western text (isolated accented letters and
    punctuation), else charset-normalizer's best guess. Windows-1252 decodes almost any bytes, so
    it must not win on Chinese or Cyrillic, where every letter is a run of non-ASCII bytes."""
    western = data.decode("cp1252", "replace")
    if sum(len(r) for r in _RUN.findall(western)) * 10 <= _non_ascii(western):
        return western
    from charset_normalizer import from_bytes
    best = from_bytes(data).best()
    return str(best) if best is not None else None


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))
