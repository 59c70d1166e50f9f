"""HTML pages: main text without boilerplate, the page shapes that used to lose their text, hidden
text and ruby readings, metadata, and the fallback reader for pages too large or deep for trafilatura.
Fixtures are small pages written for these tests, in tests/data/html/."""
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import readers
from rag.readers import decoding, html_main, html_plain

PAGES = Path(__file__).resolve().parent / "data" / "html"


def page(name: str) -> readers.Extracted:
    return readers.read(name, (PAGES / name).read_bytes())


def by_trafilatura(name: str) -> readers.Extracted | None:
    return html_main.read(decoding.decode((PAGES / name).read_bytes(), name, markup=True))


def test_boilerplate_named_by_class_and_id_is_kept_out():
    ex = page("boilerplate.html")
    paragraphs = ex.text.split("\n\n")
    assert paragraphs[0] == "Kuril talks resume in Sapporo"
    assert paragraphs[1].startswith("Negotiators from Tokyo and Moscow met in Sapporo")
    assert paragraphs[-1].endswith("expected to review the survey proposal.")
    for junk in ("COOKIEWORD", "NAVWORD", "SHAREWORD", "TAGWORD", "RELATEDWORD", "COMMENTWORD", "FOOTERWORD",
                 "SCRIPTWORD", "color:red"):
        assert junk not in ex.text, junk


def test_metadata_title_author_date_and_site_name():
    ex = page("boilerplate.html")
    assert (ex.title, ex.author, ex.date, ex.publication) == (
        "Kuril talks resume in Sapporo", "Aiko Tanaka", "1998-11-12", "Northern Monitor")


@pytest.mark.parametrize("name,first", [
    ("unclosed-header.html", "LEADWORD The destroyer Zebrafinch"),     # <header> never closed
    ("form-page.html", "FORMWORD The fisheries agreement"),             # the page wrapped in a <form>
    ("no-body.html", "HEADWORD The summit"),                            # <head> never closed, no <body>
])
def test_page_shapes_that_used_to_lose_their_text(name, first):
    ex = page(name)
    assert first in ex.text and ex.text.endswith("ENDWORD")
    assert len(ex.text.split("\n\n")) >= 3
    assert by_trafilatura(name) is not None            # read by the main-text extractor, not the fallback


def test_text_only_in_noscript_is_kept():
    ex = page("noscript.html")
    assert ex.text.startswith("NOSCRIPTWORD The timeline begins in 1855")
    assert "occupied by the Soviet Union in August 1945." in ex.text


def test_hidden_and_template_text_never_counts():
    ex = page("hidden.html")
    assert "Voters in Sakhalin" in ex.text and ex.text.endswith("ENDWORD")
    assert "HIDDENWORD" not in ex.text and "TEMPLATEWORD" not in ex.text


def test_ruby_readings_are_dropped():
    ex = page("ruby.html")
    assert "択捉島と国後島は、千九百四十五年以来ロシアが実効支配している。" in ex.text
    for reading in ("えとろふとう", "くなしりとう", "(", ")"):
        assert reading not in ex.text


def test_declared_gb2312_page_reads_as_chinese():
    ex = page("gb2312.html")
    assert "日本与俄罗斯就北方四岛问题在莫斯科举行了新一轮谈判" in ex.text
    assert ex.title == "北方四岛问题"


def test_soft_hyphens_and_decomposed_accents_are_normalised():
    body = "".join(f"<p>Paragraph {i} about the Ku&shy;ril Is\u00adlands and the cafe\u0301 in Sapporo, "
                   "where the delegations met for the second time that year.</p>" for i in range(4))
    for html in (f"<html><head><title>Cafe\u0301</title></head><body><article>{body}</article></body></html>",
                 "<p>Short: Ku&shy;ril cafe\u0301</p>"):       # trafilatura's text, then the fallback's
        ex = readers.read("p.html", html.encode("utf-8"))
        assert "Kuril" in ex.text and "caf\u00e9" in ex.text
        assert "\u00ad" not in ex.text and "e\u0301" not in ex.text


def test_a_short_page_keeps_its_paragraphs_whole():
    """On a page too short for trafilatura it dumps one line per text node; the fallback reads it."""
    html = ("<html><head><title>T</title></head><body><nav>Home NAVWORD</nav><p>A <b>bold</b> claim, "
            "<i>quoted</i>.</p><p>Second.</p></body></html>")
    assert readers.read("p.html", html.encode()).text == "A bold claim, quoted.\n\nSecond."


def test_large_and_deep_pages_go_to_the_fallback_reader(monkeypatch):
    monkeypatch.setattr(html_main, "CAREFUL_UP_TO", 50)      # trafilatura's fast mode from 50 elements,
    monkeypatch.setattr(html_main, "MAX_ELEMENTS", 100)      # the fallback reader from 100
    fast = "<html><body>" + "".join(f"<p>Paragraph number {i} of a page read in fast mode.</p>" for i in range(60))
    assert html_main.read(fast + "</body></html>").text.count("Paragraph number") == 60
    wide = "<html><body>" + "".join(f"<p>Paragraph number {i}.</p>" for i in range(200)) + "</body></html>"
    assert html_main.read(wide) is None
    ex = readers.read("wide.html", wide.encode())
    assert ex.text.split("\n\n") == [f"Paragraph number {i}." for i in range(200)]
    # past libxml2's depth limit (256) lxml drops the rest of the page: the fallback reads it all
    deep = "<html><body>" + "".join(f"<div>w{i} " for i in range(300)) + "END</body></html>"
    assert html_main.read(deep) is None
    assert readers.read("deep.html", deep.encode()).text.endswith("w299 END")


@pytest.mark.parametrize("html", [
    "", "   ", "<", "<html>", "<html><body></body></html>", "\x00\x01<p>x", "<p>" * 5000 + "x",
    "<!DOCTYPE html><html/><body><p>self-closed html</p>", "<?xml version='1.0' encoding='latin-1'?><p>x</p>",
    "<svg><script>alert(1)</script></svg><p hidden>x", "<table>" + "<tr><td>c" * 3000,
])
def test_hostile_markup_never_crashes(html):
    ex = readers.read("h.html", html.encode("utf-8"))
    assert isinstance(ex.text, str) and "alert" not in ex.text


TAGS = ["<p>", "</p>", "<div hidden>", "</div>", "<header>", "<form>", "<noscript>", "<ruby>", "<rt>", "<script>",
        "</script", "<style>", "<table><tr><td>", "<head>", "<body>", "<!--", "-->", "<![CDATA[", "&shy;", "&#0;",
        '<meta charset="gb2312">', "<?xml version='1.0' encoding='utf-7'?>", "\x00", "\xad", "<html/>"]


@settings(max_examples=int(os.environ.get("RAG_PROPERTY_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=40)), max_size=60))
def test_arbitrary_markup_is_read_or_refused_never_crashes(parts):
    data = "".join(parts).encode("utf-8", "surrogatepass")
    try:
        ex = readers.read("f.html", data)
    except readers.UnsupportedDocument as exc:
        assert "binary" in str(exc) or "invalid" in str(exc)
        return
    assert "\x00" not in ex.text and "\u00ad" not in ex.text and "<script" not in ex.text


def test_fallback_reader_closes_an_unclosed_head_and_keeps_header_form_and_noscript():
    ex = html_plain.read("<html><head><title>T</title><p>In head.</p><header><p>Lead.</header>"
                         "<form><p>Form text.</p></form><noscript>No script.</noscript>"
                         "<ruby>漢<rt>かん</rt></ruby><nav>NAV</nav>")
    assert ex.text.split("\n\n") == ["In head.", "Lead.", "Form text.", "No script.", "漢"]


def test_the_site_name_becomes_the_documents_publication():
    from rag import ingest, readers
    page = ("<html><head><title>Kelp report | Coast Weekly</title><meta property='og:site_name' content='Coast Weekly'>"
            "<meta name='author' content='Ana Reyes'></head><body><article><p>The kelp beds off Hokkaido grew "
            "again this year, the survey found.</p></article></body></html>").encode()
    got = readers.read("kelp.html", page)
    doc, passages = ingest.parse("kelp.html", got.text, extracted=got)
    assert doc.publication == "Coast Weekly" and doc.author == "Ana Reyes" and passages
