"""Citation lookup: what a person types ('Monitor, Vol. 5, Issue 107, ¶3', 'Monitor 5/107', a passage
id, a file name, an author) -> the passages it names, with the paragraphs around them. Pure."""
from __future__ import annotations

import difflib
import re

from .schema import Context, Document, Lookup, Passage

_PARA = re.compile(r"(?:¶|\bpara(?:graph)?\.?|#)\s*(\d+)\s*$", re.I)
_PAGE = re.compile(r",?\s*\b(?:p|pg|page)\.?\s*(\d+)\s*,?\s*$", re.I)
_VOL_ISSUE = re.compile(r"\bvol(?:ume)?\.?\s*(\d+)\s*,?\s*(?:no\.?|issue|iss\.?|#)\s*(\d+)", re.I)
_SLASH = re.compile(r"(?<![\w/])(\d+)\s*/\s*(\d+)\b")


def lookup(ref: str, documents: list[Document], passages: list[Passage]) -> Lookup:
    """Resolve a reference. Exact passage ids and labels first, then documents with an optional ¶."""
    ref = " ".join(ref.split())
    by_id = {p.id: p for p in passages}
    if not ref:
        return Lookup(ref, (), (), "empty reference; type a citation such as 'Monitor 5/107, ¶3' or a passage id")
    if ref in by_id:
        return Lookup(ref, (context(by_id[ref], passages),))
    exact = [p for p in passages if p.citation.lower() == ref.lower()]
    if exact:
        return Lookup(ref, tuple(context(p, passages) for p in exact))
    m = _PARA.search(ref)
    para, rest = (int(m.group(1)), ref[:m.start()]) if m else (None, ref)
    pm = _PAGE.search(rest)
    page, rest = (int(pm.group(1)), rest[:pm.start()]) if pm else (None, rest)
    docs = match_documents(rest, documents)
    if docs:
        ids = {d.doc_id for d in docs}
        mine = [p for p in passages if p.doc_id in ids]
        if page is not None and not any(d.pages for d in docs):
            page, para = None, para if para is not None else page    # "p. 3" of a text file: ¶3
        found = _on_page(mine, page, para) if page is not None else [p for p in mine if para in (None, p.para)]
        if found:
            return Lookup(ref, tuple(context(p, passages) for p in found))
        where = f"p. {page}" + (f", ¶{para}" if para else "") if page is not None else f"¶{para}"
        span = (f"pages 1–{max(d.pages for d in docs)}" if page is not None
                else f"¶1–¶{max(p.para for p in mine)}")
        return Lookup(ref, (), tuple(mine)[:5], f"{docs[0].label} has no {where}; it has {span}")
    close = suggest(ref, passages)
    hint = ("; closest matches are listed" if close
            else "; try a label such as 'Monitor 5/107, ¶3', a passage id, a file name or an author")
    return Lookup(ref, (), close, f"no passage matches {ref!r}{hint}")


def match_documents(ref: str, documents: list[Document]) -> list[Document]:
    """Documents named by a reference without its paragraph part."""
    ref = ref.strip(" ,;:")
    low = ref.lower()
    if not low:
        return []
    vol_issue = _VOL_ISSUE.search(ref) or _SLASH.search(ref)
    if vol_issue:
        v, i = vol_issue.groups()
        hits = [d for d in documents if d.volume == v and d.issue == i]
        pub = ref[:vol_issue.start()].strip(" ,").lower()
        return [d for d in hits if not pub or pub in d.publication.lower() or pub in d.label.lower()] or hits
    for key in (lambda d: d.doc_id.lower(), lambda d: d.file.lower(), lambda d: d.label.lower(),
                lambda d: d.original.lower(), lambda d: d.original.rpartition(".")[0].lower()):
        hits = [d for d in documents if key(d) == low]
        if hits:
            return hits
    words = [w for w in re.findall(r"\w+", low) if len(w) > 2]
    hits = [d for d in documents if d.author and words and all(w in d.author.lower() for w in words)]
    return hits or [d for d in documents if low in d.label.lower() and len(low) >= 4]


def _on_page(passages: list[Passage], page: int, para: int | None) -> list[Passage]:
    """Passages starting on a page; with `para`, only the para-th paragraph counted on that page."""
    here = [p for p in passages if p.page == page]
    if para is None:
        return here
    order = list(dict.fromkeys(p.para for p in here))
    return [p for p in here if len(order) >= para and p.para == order[para - 1]]


def context(p: Passage, passages: list[Passage]) -> Context:
    """A passage with its neighbours in the same document."""
    same = [q for q in passages if q.doc_id == p.doc_id]
    i = next(j for j, q in enumerate(same) if q.id == p.id)
    return Context(p, same[i - 1] if i > 0 else None, same[i + 1] if i + 1 < len(same) else None)


def suggest(ref: str, passages: list[Passage], n: int = 5) -> tuple[Passage, ...]:
    """The passages whose id or label is closest to what was typed."""
    keys = {}
    for p in passages:
        keys.setdefault(p.id.lower(), p)
        keys.setdefault(p.citation.lower(), p)
    close = difflib.get_close_matches(ref.lower(), list(keys), n=n * 2, cutoff=0.3)
    out: list[Passage] = []
    for k in close:
        if keys[k] not in out:
            out.append(keys[k])
    return tuple(out[:n])
