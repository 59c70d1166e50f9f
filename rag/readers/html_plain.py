"""An HTML page's visible text and meta tags in one streaming pass, with the standard library's parser,
in time linear in its size: the reader for pages too large or too deeply nested for rag.readers.html_main, and
for those where trafilatura finds no article (where it would give the whole text a line per text node)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from .decoding import normalize
from .extracted import Extracted

# the page's furniture and what never shows; <header>, <form> and <noscript> can hold the whole page
_SKIP = {"script", "style", "template", "nav", "footer", "aside", "button", "svg", "iframe", "object",
         "select", "textarea", "head", "rt", "rp", "rtc"}
_BLOCK = {"p", "div", "section", "article", "main", "header", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5",
          "h6", "blockquote", "pre", "tr", "table", "br", "hr", "dd", "dt", "figcaption", "form", "noscript"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}
_IN_HEAD = {"title", "meta", "link", "style", "script", "base", "noscript", "template"}
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_SPACE = re.compile(r"\s+")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []     # open elements: (tag, hides its content)
        self.open: dict[str, list[int]] = {}        # tag -> its positions in the stack, innermost last
        self.hiding = 0                             # open elements that hide their content
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
        if tag not in _IN_HEAD:
            self._close("head")                     # a <head> never closed ends where the page begins
        self._in_title = tag == "title"
        hides = (tag in _SKIP or "hidden" in a or a.get("aria-hidden") == "true"
                 or bool(_HIDDEN.search(a.get("style", ""))))
        if tag in _BLOCK:
            self.parts.append("\n\n")
        if tag not in _VOID:
            self.open.setdefault(tag, []).append(len(self.stack))
            self.stack.append((tag, hides))
            self.hiding += hides

    def handle_endtag(self, tag):
        self._in_title = False
        self._close(tag)
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def _close(self, tag: str) -> None:
        """Close the innermost open `tag` and everything opened inside it (unclosed tags are common).
        Each element is opened and closed once, so a page costs time linear in its size at any depth."""
        where = self.open.get(tag)
        if not where:
            return
        i = where[-1]
        for t, hides in self.stack[i:]:
            self.open[t].pop()
            self.hiding -= hides
        del self.stack[i:]

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif self.stack and self.stack[-1][0] == "head" and data.strip():
            self._close("head")                     # text in <head>: the page has begun
        if not self.hiding and not self._in_title:
            self.parts.append(_SPACE.sub(" ", data))


def read(source: str) -> Extracted:
    """Visible text of a page (no script, style, navigation, footer or hidden text) and its meta tags."""
    p = _Page()
    p.feed(source)
    if p.rawdata.startswith("<"):       # a comment or tag the page never closed is markup, as in a browser
        p.rawdata = ""
    p.close()
    text = "\n\n".join(" ".join(b.split()) for b in "".join(p.parts).split("\n\n") if b.strip())
    m = p.meta
    title = m.get("og:title") or " ".join(p.title.split())
    date = m.get("article:published_time") or m.get("date") or m.get("dc.date") or m.get("time", "")
    author = m.get("author", "") or m.get("dc.creator", "")
    site = m.get("og:site_name", "") or m.get("application-name", "")
    return Extracted(normalize(text), normalize(title), normalize(author), date[:10], publication=normalize(site))
