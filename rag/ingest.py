"""Files -> Document + Passages: metadata from the file's own first lines, paragraphs with stable ids,
citation labels and source offsets. `parse` is pure; bytes are decoded by rag.readers."""
from __future__ import annotations

import bisect
import hashlib
import re
from pathlib import Path

from . import text as T
from .filters import iso_date
from .readers import SUFFIXES, Extracted, UnsupportedDocument, decode  # noqa: F401  (re-exported)
from .schema import Document, Passage

INGEST_VERSION = 4   # bump when parsing changes, so old passages are not reused (4: rag.segment's splitter,
                     # trafilatura's HTML main text, rag.readers.decoding's encodings and normal form);
                     # recorded in each generation's manifest by rag.store.generation, checked by rag.store.snapshot
_HEADER = re.compile(r"^Publication:\s*(?P<publication>.+?)\s+Volume:\s*(?P<volume>\S+)\s+Issue:\s*(?P<issue>\S+)\s*$")
_FIELD = re.compile(r"^(Title|Author|By|Date|Source|Publication):\s*(.+)$", re.I)
_BOILER = [re.compile(p, re.I) for p in (
    r"\bis a publication of\b", r"\bcopyright\b|\(c\)\s*\d{4}|©", r"\ball rights reserved\b",
    r"\bunauthori[sz]ed reproduction\b", r"\bsubscrib", r"\bplease contact (us|the)\b", r"\bsite maintenance\b")]


def doc_id_for(file_name: str) -> str:
    """Stable, safe document id from a file name: its stem with unsafe characters replaced."""
    stem = Path(file_name).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "doc"


def parse(file_name: str, source: str, *, count: T.Count | None = None,
          limit: int = 256, doc_id: str | None = None, sha: str | None = None,
          title_room: str = "none", extracted: Extracted | None = None,
          original: str = "", counts: T.Counts | None = None,
          adds_up: bool = False) -> tuple[Document, list[Passage]]:
    """Split one document's text into its metadata and passages.

    Args:
        file_name: name inside the documents folder; gives the document id.
        source: decoded text (newlines are normalised here; offsets index the normalised text).
        count: tokens in a string, with the model's tokenizer; paragraphs over `limit` are cut.
        doc_id, sha: the document's id and the sha256 of its file (default: from name and text).
        title_room: "lead" or "all": leave room in the window for the title that will be indexed
            before the first (or every) paragraph, so title + piece is never truncated.
        extracted: what rag.readers found in the file (HTML/PDF): its title, author and date win
            over the first lines'; its page offsets give each passage its page.
        original: the file's name when it was added (labels use it instead of `file_name`).
        counts: `count` for many texts in one call (a batched tokenizer call); the document's
            paragraphs, and the sentences of each one over the window, are counted in one call each.
        adds_up: the tokenizer's counts add up over text cut at spaces (see rag.text.pieces): then
            each sentence is counted once, in one call, and nothing else is counted.
    """
    source = T.normalize_newlines(source)
    spans = T.blocks(source)
    meta, spans = _metadata(source, spans)
    if extracted is not None:
        meta.update({k: v for k in ("title", "author", "date", "publication") if (v := getattr(extracted, k))})
    pages = extracted.pages if extracted is not None else ()
    doc_id = doc_id or doc_id_for(file_name)
    sha = sha or hashlib.sha256(source.encode("utf-8")).hexdigest()
    shown = original or file_name
    doc = Document(doc_id=doc_id, file=file_name, sha256=sha, label=_label(meta, shown),
                   original=original, pages=len(pages), **meta)
    on_page: dict[int, int] = {}
    passages: list[Passage] = []
    paragraphs = [(a, b, section, cleaned) for a, b, section in _paragraphs(source, spans)
                  if (cleaned := T.clean(source[a:b]))]            # (a block of only invisible chars is no text)
    head = [doc.title + ". ", ""] if count and doc.title and title_room != "none" else []
    if count:
        heads, totals, counts = _counted(head, [p[3] for p in paragraphs], count, counts=counts, adds_up=adds_up)
    room = heads[0] - heads[1] if head else 0
    for para, (a, b, section, cleaned) in enumerate(paragraphs, start=1):
        boiler = sum(bool(p.search(cleaned)) for p in _BOILER) >= 2
        window = limit - room if para == 1 or title_room == "all" else limit
        page = bisect.bisect_right(pages, a) if pages else 0
        on_page[page] = on_page.get(page, 0) + 1
        where_cited = f"p. {page}, ¶{on_page[page]}" if page else f"¶{para}"
        cuts = (T.pieces(cleaned, count, window, counts=counts, total=totals[para - 1], adds_up=adds_up)
                if count else [(0, len(cleaned))])
        if len(cuts) > 1:   # offsets of the pieces in the source (the same offsets when it is already clean)
            where = range(b - a + 1) if cleaned == source[a:b] else T.clean_map(source[a:b])[1]
        for part, (x, y) in enumerate(cuts, start=1 if len(cuts) > 1 else 0):
            body = cleaned[x:y]
            start, end = T.source_span(source[a:b], where, x=x, y=y) if len(cuts) > 1 else (0, b - a)
            start, end = a + start, a + end
            pid = f"{doc_id}:{para}" + (f".{part}" if part else "")
            cite = f"{doc.label}, {where_cited}" + (f" (part {part})" if part else "")
            passages.append(Passage(id=pid, doc_id=doc_id, para=para, part=part, text=body, start=start,
                                    end=end, citation=cite, section=section, boilerplate=boiler,
                                    sentences=tuple(T.split_sentences(body)), page=page))
    return doc, passages


def _counted(head: list[str], paragraphs: list[str], count, *, counts, adds_up: bool):
    """(counts of `head`, counts of `paragraphs`, the batched count for T.pieces), in one batched call.
    When counts add up, the paragraphs' sentences are counted instead: a paragraph's count is the sum
    of its sentences' less the special tokens each repeats, and T.pieces finds them remembered."""
    counts = T.batched(count, counts)
    if not adds_up:
        sizes = counts(head + paragraphs)
        return sizes[:len(head)], sizes[len(head):], counts
    known: dict[str, int] = {}

    def remembered(texts: list[str]) -> list[int]:
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        known.update(zip(todo, counts(todo) if todo else []))
        return [known[t] for t in texts]
    spans = [T.split_sentences(p) for p in paragraphs]
    remembered(head + [""] + [p[a:b] for p, sp in zip(paragraphs, spans) for a, b in sp])
    totals = [sum(known[p[a:b]] for a, b in sp) - known[""] * (len(sp) - 1) for p, sp in zip(paragraphs, spans)]
    return [known[h] for h in head], totals, remembered


def _metadata(source: str, spans: list[tuple[int, int]]) -> tuple[dict, list[tuple[int, int]]]:
    meta: dict[str, str] = {}
    if not spans:
        return meta, spans
    first = source[slice(*spans[0])]
    m = _HEADER.match(first)
    lines = first.split("\n")
    if m:
        return {k: v.strip() for k, v in m.groupdict().items()}, spans[1:]
    if all(_FIELD.match(ln) for ln in lines):
        for ln in lines:
            key, value = _FIELD.match(ln).groups()
            key = {"by": "author", "source": "publication"}.get(key.lower(), key.lower())
            meta[key] = T.clean(value)
        return meta, spans[1:]
    if len(spans) > 1 and T.is_heading(first) or first.startswith("# "):
        meta["title"] = T.clean(first.lstrip("#"))
        spans = spans[1:]
        byline = source[slice(*spans[0])] if spans else ""
        if spans and _is_byline(byline):
            meta["author"] = T.clean(re.sub(r"^by\s+", "", byline, flags=re.I))
            spans = spans[1:]
    return meta, spans


def _is_byline(s: str) -> bool:
    words = s.strip().split()
    if "\n" in s.strip() or not 2 <= len(words) <= 6:
        return False
    if words[0].lower() == "by":
        return True
    return all(w[:1].isupper() and not any(c.isdigit() for c in w) for w in words) and len(words) <= 4


def _paragraphs(source: str, spans):
    """(start, end, section) per paragraph: headings become sections, page-broken paragraphs are
    rejoined, and blocks of dated entries are split one entry per paragraph."""
    section, out = "", []
    for a, b in spans:
        block = source[a:b]
        if T.is_heading(block):
            section = T.clean(block.lstrip("#"))
            continue
        if T.dated_lines(block):
            pos = a
            for line in block.split("\n"):
                if line.strip():
                    s = source.index(line, pos)
                    out.append([s, s + len(line.rstrip()), section])
                    pos = s + len(line)
            continue
        prev = source[out[-1][0]:out[-1][1]] if out else ""
        if prev and not T.is_terminal(prev) and block[:1].islower() and out[-1][2] == section:
            out[-1][1] = b      # a paragraph broken by a page break mid-sentence
        else:
            out.append([a, b, section])
    return [tuple(x) for x in out]


def _label(meta: dict, file_name: str) -> str:
    if meta.get("publication") and meta.get("volume"):
        label = f"{meta['publication']}, Vol. {meta['volume']}"
        return label + (f", Issue {meta['issue']}" if meta.get("issue") else "")
    title = meta.get("title", "")
    short = title.split(":")[0] + "…" if ":" in title else title
    if len(short) > 60:
        short = " ".join(short[:60].split()[:-1]) + "…"
    date = iso_date(meta.get("date", ""))
    label = f'"{short}"' if title else file_name
    if title and meta.get("author"):
        label = f'{meta["author"].split()[-1]}, {label}'
    return f"{label}, {date}" if date else label
