"""Markdown for the web page, made safe: every piece of document or user text is escaped so that
Streamlit shows it literally (no links, images, HTML or directives), and error messages lose file
system paths. Pure functions; app.py draws with them."""
from __future__ import annotations

import re
import string
from datetime import datetime

from .schema import Answer, Document, Hit, IndexMismatch, IndexNotBuilt, RagError

_MD_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
_PATH = re.compile(r"(?<![\w.~-])(?:[A-Za-z]:)?[/\\][^\s'\"]+")
_RUN_HINT = re.compile(r"\s*[;,—-]*\s*run: .*$", re.S)


def esc(text: str) -> str:
    """Text -> markdown that displays it literally. CommonMark lets any ASCII punctuation be
    backslash-escaped, so links, images, HTML, emphasis, LaTeX ($) and directives (:red[…]) all
    become plain characters."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def highlight_md(text: str, spans: list[tuple[int, int]]) -> str:
    """Markdown for `text` with the character spans highlighted; every piece is escaped."""
    out, pos = [], 0
    for a, b in sorted(spans):
        a, b = max(a, pos), min(b, len(text))
        if a >= b:
            continue
        out += [esc(text[pos:a]), ":orange-background[**", esc(text[a:b]), "**]"]
        pos = b
    out.append(esc(text[pos:]))
    return "".join(out)


def answer_md(ans: Answer, turn: int) -> str:
    """The short answer when there is one, then the answer's sentences, each followed by its [n] marker
    linking to source card n; the short answer is highlighted where its sentence quotes it."""
    head = f"**Short answer:** {esc(ans.short)}\n\n" if ans.short else ""
    return head + " ".join(f"{highlight_md(s.text, [s.short] if s.short else [])} "
                           f"[\\[{s.marker}\\]](#{anchor(turn, s.marker)})" for s in ans.sentences)


def anchor(turn: int, rank: int) -> str:
    return f"src-{turn}-{rank}"


def spans_in(hit: Hit, ans: Answer) -> list[tuple[int, int]]:
    """Where the answer's sentences sit in this hit's passage."""
    text, out = hit.passage.text, []
    for s in ans.sentences:
        if s.marker == hit.rank and (text[s.start:s.end] == s.text or ans.reader == "llm"):
            out.append((s.start, s.end))       # the quote, or the sentence that supports an LLM's one
        elif hit.passage.id in s.citations and (i := text.find(s.text)) >= 0:
            out.append((i, i + len(s.text)))
    return out


def scrub(message: str) -> str:
    """A library message fit for the page: no filesystem paths, no command-line fix."""
    message = _RUN_HINT.sub("", message)
    return _PATH.sub(lambda m: m.group(0).rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
                     + ("/" if m.group(0)[-1] in "/\\" else ""), message).strip()


def friendly(exc: RagError) -> str:
    """Markdown for an engine error: what went wrong, then the fix in this UI."""
    what = esc(scrub(str(exc)))
    if isinstance(exc, IndexNotBuilt):
        return f"There is no index yet ({what}). Click **Rebuild index** in the sidebar to build it."
    if isinstance(exc, IndexMismatch):
        return (f"The index could not be loaded: {what}. It is damaged or was built differently — "
                "click **Rebuild index** in the sidebar to rebuild it from the documents.")
    return what[:1].upper() + what[1:]


def doc_line(d: Document | None) -> str:
    """Title, author and publication of a document, for captions."""
    if d is None:
        return ""
    issue = ", ".join(x for x in (d.publication, d.volume and f"Vol. {d.volume}", d.issue and f"Issue {d.issue}") if x)
    return " · ".join(x for x in (d.title, d.author, issue, d.date) if x) or d.file


def when(iso: str | None) -> str:
    try:
        return datetime.fromisoformat(iso or "").strftime("%d %b %Y, %H:%M UTC")
    except ValueError:
        return "unknown"
