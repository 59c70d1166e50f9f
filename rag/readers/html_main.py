"""An HTML page's main text and metadata with trafilatura: the article without navigation, related
links, comments, share bars, cookie banners or tags. The only module that imports trafilatura and lxml.

Hidden elements (hidden, aria-hidden, display:none, visibility:hidden) and ruby readings (<rt>, <rp>)
are removed before extraction. trafilatura's time grows faster than the page, and its default mode's
second opinions (readability, justext) are quadratic on some pages (2 s at 5,000 nested elements, a
minute at 20,000), so pages over CAREFUL_UP_TO elements get its fast mode, and pages too large or
too deep even for that return None, for rag.readers.html_plain to read: at most about 2 s a page here.
"""
from __future__ import annotations

import datetime
import logging
import re

from . import html_plain
from .decoding import normalize
from .extracted import Extracted

CAREFUL_UP_TO = 1_500          # elements; the median page of its test set has 658, the 99th percentile 3,088
MAX_ELEMENTS = 20_000           # past it, rag.readers.html_plain (fast mode takes about 1 s at 20,000)
MAX_CHARS = 2_000_000           # characters of text; the test set's largest page has 483,212
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_state: dict = {}


def _setup() -> dict:
    """Import trafilatura once (about 0.4 s) and build its extraction options."""
    if not _state:
        from lxml import etree
        from trafilatura.settings import Extractor
        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)   # it logs every page it finds short
        logging.getLogger("htmldate").setLevel(logging.CRITICAL)
        _state["unseen"] = etree.XPath("//*[@hidden or @aria-hidden or @style]")
        # trafilatura's benchmark settings (its tests/eval_common.py), in its default and fast modes
        _state["careful"], _state["fast"] = (Extractor(output_format="python", comments=False, tables=True,
                                                       formatting=False, fast=fast) for fast in (False, True))
    return _state


def read(source: str) -> Extracted | None:
    """The page's main text (paragraphs separated by blank lines) with its title, author, date and
    site name; None when the page is beyond this reader (too large, too deep, or nothing found)."""
    state = _setup()
    tree = _parse(source)
    if tree is None:
        return None
    try:
        meta = _metadata(tree)
        _drop_unseen(tree)
        elements = _elements(source, tree)
        if elements > MAX_ELEMENTS or len(source) > MAX_CHARS and _text_size(tree) > MAX_CHARS:
            return None
        from trafilatura import bare_extraction
        doc = bare_extraction(tree, options=state["careful" if elements <= CAREFUL_UP_TO else "fast"])
    except Exception:      # noqa: BLE001  any page that breaks the extractor (deep recursion, a bug on
        return None        # hostile markup) is read whole by rag.readers.html_plain instead
    if doc is None:
        return None
    if _dump(doc.body) and (plain := html_plain.read(source).text):
        return Extracted(plain, **meta)
    text = "\n\n".join(" ".join(line.split()) for line in doc.text.split("\n") if line.strip())
    return Extracted(normalize(text), **meta) if text else None


def _dump(body) -> bool:
    """trafilatura's last resort on a page it cannot read (a short one, say): all the body's text
    in one element, a line per text node, so "a <b>bold</b> word" becomes three lines. rag.readers.html_plain
    reads such a page better (paragraphs kept whole; navigation, footer and asides left out), unless
    its parser, less forgiving than lxml's, finds no text (a "</script" without its ">", say)."""
    return len(body) == 1 and "\n" in (body[0].text or "")


def _elements(source: str, tree) -> int:
    """The page's elements, counted only when it may have more than CAREFUL_UP_TO (each has a "<")."""
    return int(tree.xpath("count(//*)")) if source.count("<") > CAREFUL_UP_TO else 0


def _parse(source: str):
    """lxml's tree of the page, or None when the parser gave up part-way: past 256 levels of nesting
    (trafilatura takes seconds on a page 2,000 deep) or a text node of 10 MB. A parser per page:
    its error log is read afterwards, and pages may be read in several threads at once."""
    import lxml.html
    from lxml import etree
    from trafilatura.utils import repair_faulty_html
    source = repair_faulty_html(source, source[:50].lower())      # drops characters lxml refuses
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True,
                                  collect_ids=False, default_doctype=False)
    try:
        tree = lxml.html.document_fromstring(source.encode("utf-8", "replace"), parser=parser)
    except (etree.LxmlError, ValueError):
        return None
    if any(e.level_name == "FATAL" for e in parser.error_log):
        return None
    return tree


def _metadata(tree) -> dict:
    """Title, author, date (ISO) and site name by trafilatura's rules: meta tags and JSON-LD first,
    then htmldate's structured sources (any date from 1900 on). Its search of the page for a by-line
    is left out: it costs 6 ms a page, a quarter of the time budget, on pages that name no author."""
    from htmldate import find_date
    from trafilatura import metadata as tm
    got = tm.examine_meta(tree)
    if got.author and " " not in got.author:
        got.author = None                   # trafilatura's rule: a one-word "author" is a site or a handle
    try:
        got = tm.extract_meta_json(tree, got)
    except Exception:                       # noqa: BLE001  trafilatura guards this call the same way
        pass
    site = (got.sitename or tm.extract_sitename(tree) or "").lstrip("@")
    date = find_date(tree, original_date=True, extensive_search=False, min_date="1900-01-01",
                     max_date=datetime.date.today().isoformat())
    return {"title": normalize(got.title or _title(tree, site)), "author": normalize(got.author or ""),
            "date": (date or "")[:10], "publication": normalize(site)}


def _title(tree, site: str) -> str:
    """The <title>, less the site's name ("Headline | Site"), else trafilatura's guess (a lone <h1>…)."""
    from trafilatura import metadata as tm
    whole, first, second = tm.examine_title_element(tree)
    parts = [p.strip() for p in (first, second) if p]
    if len(parts) == 2 and site.casefold() in (parts[0].casefold(), parts[1].casefold()):
        return parts[1] if parts[0].casefold() == site.casefold() else parts[0]
    return whole or tm.extract_title(tree) or ""


def _text_size(tree) -> int:
    """Characters of text outside scripts and styles (a saved page may inline megabytes of them)."""
    return sum(map(len, tree.xpath("//text()[not(ancestor::script or ancestor::style)]", smart_strings=False)))


def _drop_unseen(tree) -> None:
    """Remove what a reader never sees (their tails stay): hidden elements, ruby readings, templates."""
    from lxml import etree
    for el in _state["unseen"](tree):
        if el.getparent() is not None and ("hidden" in el.attrib or el.get("aria-hidden") == "true"
                                           or _HIDDEN.search(el.get("style", ""))):
            el.drop_tree()
    etree.strip_elements(tree, "rt", "rp", "rtc", "template", with_tail=False)
