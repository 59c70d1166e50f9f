"""Citation lookup: what a person types ('Monitor, Vol. 5, Issue 107, ¶3', 'Monitor 5/107', a passage
id, a file name, an author) -> the passages it names, with the paragraphs around them. Pure."""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence

from .schema import Context, Document, Lookup, Passage

_PARA = re.compile(r"(?:¶|\bpara(?:graph)?\.?|#)\s*(\d+)\s*$", re.I)
_PAGE = re.compile(r",?\s*\b(?:p|pg|page)\.?\s*(\d+)\s*,?\s*$", re.I)
_VOL_ISSUE = re.compile(r"\bvol(?:ume)?\.?\s*(\d+)\s*,?\s*(?:no\.?|issue|iss\.?|#)\s*(\d+)", re.I)
_SLASH = re.compile(r"(?<![\w/])(\d+)\s*/\s*(\d+)\b")
SUGGEST_DOCS = 5     # documents searched for the closest passages when a reference resolves to none


def lookup(ref: str, documents: Sequence[Document], passages_of: Callable[[str], Sequence[Passage]]) -> Lookup:
    """Resolve a reference. Exact passage ids and labels first, then documents with an optional ¶.

    `passages_of(doc_id)` gives one document's passages in order: only the documents a reference
    can name are read, so a lookup costs the same in a corpus of a million passages."""
    ref = " ".join(ref.split())
    if not ref:
        return Lookup(ref, (), (), "empty reference; type a citation such as 'Monitor 5/107, ¶3' or a passage id")
    doc_id = ref.rpartition(":")[0]           # a passage id is "<doc_id>:<paragraph>[.<part>]"
    if any(d.doc_id == doc_id for d in documents):
        same = passages_of(doc_id)
        found = [context(same, i) for i, p in enumerate(same) if p.id == ref]
        if found:
            return Lookup(ref, tuple(found))
    low = ref.lower()
    exact = [context(same, i) for d in documents if low.startswith(d.label.lower() + ", ")   # labels: "<doc>, ¶3"
             for same in [passages_of(d.doc_id)] for i, p in enumerate(same) if p.citation.lower() == low]
    if exact:
        return Lookup(ref, tuple(exact))
    m = _PARA.search(ref)
    para, rest = (int(m.group(1)), ref[:m.start()]) if m else (None, ref)
    pm = _PAGE.search(rest)
    page, rest = (int(pm.group(1)), rest[:pm.start()]) if pm else (None, rest)
    docs = match_documents(rest, documents)
    if docs:
        mine = [(same, i) for d in docs for same in [passages_of(d.doc_id)] for i in range(len(same))]
        if page is not None and not any(d.pages for d in docs):
            page, para = None, para if para is not None else page    # "p. 3" of a text file: ¶3
        found = (_on_page(mine, page, para) if page is not None
                 else [(same, i) for same, i in mine if para in (None, same[i].para)])
        if found:
            return Lookup(ref, tuple(context(same, i) for same, i in found))
        where = f"p. {page}" + (f", ¶{para}" if para else "") if page is not None else f"¶{para}"
        span = (f"pages 1–{max(d.pages for d in docs)}" if page is not None
                else f"¶1–¶{max(same[i].para for same, i in mine)}")
        return Lookup(ref, (), tuple(same[i] for same, i in mine[:5]), f"{docs[0].label} has no {where}; it has {span}")
    close = suggest(ref, documents, passages_of)
    hint = ("; closest matches are listed" if close
            else "; try a label such as 'Monitor 5/107, ¶3', a passage id, a file name or an author")
    return Lookup(ref, (), close, f"no passage matches {ref!r}{hint}")


def match_documents(ref: str, documents: Sequence[Document]) -> list[Document]:
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


def _on_page(mine: list, page: int, para: int | None) -> list:
    """(passages, position) pairs of passages starting on a page; with `para`, only the para-th
    paragraph counted on that page."""
    here = [(same, i) for same, i in mine if same[i].page == page]
    if para is None:
        return here
    order = list(dict.fromkeys(same[i].para for same, i in here))
    return [(same, i) for same, i in here if len(order) >= para and same[i].para == order[para - 1]]


def context(same: Sequence[Passage], i: int) -> Context:
    """The i-th passage of a document (`same`, in order) with its neighbours."""
    return Context(same[i], same[i - 1] if i > 0 else None, same[i + 1] if i + 1 < len(same) else None)


def suggest(ref: str, documents: Sequence[Document], passages_of: Callable[[str], Sequence[Passage]],
            *, n: int = 5) -> tuple[Passage, ...]:
    """The passages whose id or label is closest to what was typed, looked for in the SUGGEST_DOCS
    documents whose id, label, file name or author is closest to it."""
    doc_keys: dict[str, list[str]] = {}
    for d in documents:
        for key in {d.doc_id, d.label, d.file, d.original, d.author} - {""}:
            doc_keys.setdefault(key.lower(), []).append(d.doc_id)
    near = difflib.get_close_matches(ref.lower(), list(doc_keys), n=SUGGEST_DOCS, cutoff=0.3)
    keys: dict[str, Passage] = {}
    for doc_id in dict.fromkeys(i for k in near for i in doc_keys[k]):
        for p in passages_of(doc_id):
            keys.setdefault(p.id.lower(), p)
            keys.setdefault(p.citation.lower(), p)
    close = difflib.get_close_matches(ref.lower(), list(keys), n=n * 2, cutoff=0.3)
    out: list[Passage] = []
    for k in close:
        if keys[k] not in out:
            out.append(keys[k])
    return tuple(out[:n])
