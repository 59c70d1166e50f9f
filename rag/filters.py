"""Choosing documents by their metadata: names, authors and a date range. Pure.

Dates in documents come as the files give them ('1999-03-04', 'March 4, 1999', '1999'); they are
compared as ISO ranges, so a document dated '1999' matches any filter range that overlaps 1999."""
from __future__ import annotations

import re
from pathlib import Path

from .schema import BadInput, DocFilter, Document

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}
_ISO = re.compile(r"\b(1[89]\d\d|20\d\d)(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?!\d)")
_WORDY = re.compile(r"\b(?:(\d{1,2})\s+)?([A-Za-z]{3,9})\.?\s+(?:(\d{1,2}),?\s+)?(1[89]\d\d|20\d\d)\b")


def iso_date(text: str) -> str:
    """'YYYY-MM-DD', 'YYYY-MM' or 'YYYY' from a date as written; '' when there is none."""
    m = _ISO.search(text or "")
    if m and m.group(2) and 1 <= int(m.group(2)) <= 12:
        y, mo, d = m.groups()
        return y + (f"-{int(mo):02d}" if mo else "") + (f"-{int(d):02d}" if mo and d else "")
    w = _WORDY.search(text or "")
    if w and w.group(2)[:3].lower() in _MONTHS:
        day = w.group(1) or w.group(3)
        return f"{w.group(4)}-{_MONTHS[w.group(2)[:3].lower()]:02d}" + (f"-{int(day):02d}" if day else "")
    return m.group(1) if m else ""


def _bounds(iso: str) -> tuple[str, str]:
    """The first and last day an ISO prefix covers, as sortable strings."""
    parts = iso.split("-")
    return "-".join(parts + ["01"] * (3 - len(parts))), "-".join(parts + ["12", "31"][len(parts) - 1:])


def select(documents: list[Document] | tuple[Document, ...], where: DocFilter | None) -> list[str] | None:
    """Ids of the documents that match every part of the filter (None when the filter is empty).
    Raises BadInput naming the choices when a name is unknown or nothing matches."""
    if not where:
        return None
    names, authors, since, until = where.documents, where.authors, where.since, where.until
    chosen = list(documents)
    if names:
        chosen = [d for d in chosen if any(_named(d, n) for n in names)]
        unknown = [n for n in names if not any(_named(d, n) for d in documents)]
        if unknown:
            raise BadInput(f"unknown document {unknown[0]!r}; choose from: " + ", ".join(d.doc_id for d in documents))
    if authors:
        chosen = [d for d in chosen if any(a.lower().strip() in d.author.lower() for a in authors if a.strip())]
    lo, hi = (_bound(since, "since")[0] if since else "0000"), (_bound(until, "until")[1] if until else "9999")
    if since or until:
        chosen = [d for d in chosen if (b := _bounds(iso_date(d.date)) if iso_date(d.date) else None)
                  and b[1] >= lo and b[0] <= hi]
    if not chosen:
        known = sorted({d.author for d in documents if d.author})
        raise BadInput("no document matches the filter" + (f"; authors: {', '.join(known)}" if known else "")
                       + ("; dated documents: " + ", ".join(sorted({iso_date(d.date) for d in documents
                                                                    if iso_date(d.date)})) if since or until else ""))
    return [d.doc_id for d in chosen]


def _bound(text: str, which: str) -> tuple[str, str]:
    iso = iso_date(text)
    if not iso:
        raise BadInput(f"{which} {text!r} is not a date; write it like 1999, 1999-03 or 1999-03-04")
    return _bounds(iso)


def _named(d: Document, name: str) -> bool:
    return name in (d.doc_id, d.file, Path(d.file).stem) or bool(d.original) and name in (d.original,
                                                                                         Path(d.original).stem)
