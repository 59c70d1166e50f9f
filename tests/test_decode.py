"""Decoding: BOM, declared charset, UTF-8 with stray bytes, detection; NULs, soft hyphens and NFC."""
import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag import readers
from rag.readers.decoding import decode, normalize

CHINESE = "日本与俄罗斯就北方四岛问题在莫斯科举行了新一轮谈判，双方同意继续对话。"
WESTERN = "The minister’s “café” visit to Zoë’s naïve façade cost €1.5 million."


def test_declared_gb2312_decodes_as_chinese_with_gb18030_characters():
    # 镕 is in GBK/GB18030 but not in GB2312: pages labelled gb2312 use it all the same
    text = f"{CHINESE}朱镕基"
    page = f'<html><head><meta charset="gb2312"></head><body><p>{text}</p></body></html>'.encode("gb18030")
    assert text in decode(page, "p.html", markup=True)
    http_equiv = page.replace(b'<meta charset="gb2312">',
                              b'<meta http-equiv="Content-Type" content="text/html; charset=GB2312">')
    assert text in decode(http_equiv, "p.html", markup=True)


def test_xml_declaration_counts_for_markup_only():
    page = "<?xml version='1.0' encoding='koi8-r'?><html><p>Министр посетил Токио.</p></html>".encode("koi8-r")
    assert "Министр посетил Токио." in decode(page, "p.html", markup=True)


def test_windows_1252_does_not_succeed_on_chinese():
    assert decode(CHINESE.encode("gb18030"), "c.txt") == CHINESE
    assert decode(CHINESE.encode("big5", "ignore"), "c.txt").startswith("日本")


@pytest.mark.parametrize("text", [WESTERN, "Meet me at the café.", "Déjà vu — “naïve” ½ price"])
def test_western_legacy_text_is_windows_1252(text):
    assert decode(text.encode("cp1252"), "w.txt") == text


def test_a_stray_invalid_byte_is_repaired_not_a_reason_to_re_guess():
    good = f"{CHINESE} {WESTERN} " * 3
    data = good.encode("utf-8")
    cut = data.index(b" visit")
    broken = data[:cut] + b"\xe9" + data[cut:]            # a Windows-1252 é pasted into UTF-8
    assert decode(broken, "b.txt") == good.replace(" visit", "é visit", 1)
    assert decode(data[:cut] + b"\x81" + data[cut:], "b.txt").count("\ufffd") == 1   # no character there


def test_a_utf8_page_that_kept_a_legacy_declaration_reads_as_utf8():
    page = f'<html><head><meta charset="iso-8859-1"></head><body><p>{WESTERN}</p></body></html>'.encode("utf-8")
    assert WESTERN in decode(page, "p.html", markup=True)
    assert WESTERN in decode(page.replace(b"iso-8859-1", b"utf-16"), "p.html", markup=True)


def test_nul_bytes_are_removed_but_binary_is_still_refused():
    assert decode(b"Kuril\x00 Islands\x00\n\x00", "n.txt") == "Kuril Islands\n"
    with pytest.raises(readers.UnsupportedDocument, match="binary"):
        decode(bytes(range(256)) * 4, "b.txt")
    with pytest.raises(readers.UnsupportedDocument, match="binary"):
        decode(b"\x00\x01" * 100, "b.txt")


def test_soft_hyphens_removed_and_text_nfc():
    assert normalize("Ku\u00adril cafe\u0301") == "Kuril café"
    assert decode("Ku\u00adril cafe\u0301".encode("utf-8"), "s.txt") == "Kuril café"
    assert readers.read("s.md", "Is\u00adlands".encode("utf-16")).text == "Islands"


@pytest.mark.parametrize("bom,codec", [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                                       (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF32_LE, "utf-32-le")])
def test_bom_wins_over_a_declaration(bom, codec):
    page = f'<meta charset="gb2312"><p>{WESTERN} {CHINESE}</p>'
    assert decode(bom + page.encode(codec), "p.html", markup=True) == page


@pytest.mark.parametrize("label", ["utf-7", "idna", "base64", "unicode-escape", "cp037", "undefined", "x-unknown"])
def test_a_declaration_no_ascii_page_could_make_is_ignored(label):
    page = f'<meta charset="{label}"><p>caf\xe9 +AGEA- \\u0041</p>'.encode("latin-1")
    assert decode(page, "p.html", markup=True) == page.decode("cp1252")


PIECES = [b"<meta charset=gb2312>", b"<?xml version='1.0' encoding='utf-7'?>", b"\xef\xbb\xbf", b"\xff\xfe",
          b"\x00", b"\xe9", b"\xc2\xad", "東京".encode("utf-8"), "東京".encode("gb18030"), b"caf\xe9 "]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=30)), max_size=40), st.booleans())
def test_any_bytes_decode_or_are_refused_as_binary(parts, markup):
    try:
        text = decode(b"".join(parts), "f.html", markup)
    except readers.UnsupportedDocument as exc:
        assert "binary" in str(exc) or "invalid UTF" in str(exc)
        return
    assert "\x00" not in text and "\u00ad" not in text and normalize(text) == text
