"""Where a quoted answer begins and ends, and which quotes are kept: a sentence that begins mid-thought,
goes on with a quotation opened before, or names a person by surname alone is quoted together with the
sentences it leans on, and a reason with the sentence that goes on with it (a verbatim span of its
passage either way). Pure functions on strings."""
from __future__ import annotations

import re

from . import answer_types as AT

# Openers of a sentence that leans on the one before: given with it, or not chosen.
# Openers that point back ("This, he said, will lead to…", "That, at least, was suggested by…"), not a
# time ("This week…"): such a sentence goes on with the one before it.
_POINTS_BACK = (r"(?:That|This|These|Those|Such)\b"
                r"(?!\s+(?:week|month|year|time|morning|spring|summer|fall|autumn|winter)\b)")
_LEANS = re.compile(rf"^(?:(?:But|And|Or|Yet|So|Still|Thus|Hence|Therefore|Also|Moreover|Furthermore|Meanwhile|"
                    rf"Nevertheless|Nonetheless|Instead|Indeed|However|Besides|Otherwise|Then|It|He|She|They|His|"
                    rf"Her|Their|Its|There)\b|{_POINTS_BACK}|(?:In addition|As a result|Even so|In turn|At least|"
                    rf"For (?:this|that) reason)\b)")
_GOES_ON = re.compile(rf"^[\"“]?{_POINTS_BACK}")


def start(passage, si: int, kind: str | None, question: str) -> int:
    """The first sentence of the quote that ends with sentence si."""
    return _named_from(passage, _leans_from(passage, si), si, kind, question)


def end(passage, si: int, kind: str | None) -> int:
    """The last sentence of the quote that begins with sentence si: the sentence after it too when that
    one points back at it ("…could provoke an arms build-up. This, he said, will lead to a new round of
    the arms race…"), and after a "why" question when it leans on it at all ("He added…"): a reason
    often takes two sentences."""
    texts = passage.sentence_texts()
    if si + 1 < len(texts) and (kind == "reason" and leans_back(texts[si + 1]) or _GOES_ON.match(texts[si + 1])):
        return si + 1
    return si


def dedupe(cands):
    """Quotes (score, hit index, first, last, hit) in score order, each dropped when it overlaps one
    already kept (the same passage)."""
    out = []
    for c in cands:
        _, _, first, last, hit = c
        if not any(d[4] is hit and first <= d[3] and d[2] <= last for d in out):
            out.append(c)
    return out


def _leans_from(passage, si: int) -> int:
    """The first sentence of the quote that ends with sentence si: si itself, or up to two before it
    when it begins mid-thought ("But…", "That, at least…") or goes on with a quotation opened before."""
    texts = passage.sentence_texts()
    first = si
    while first > 0 and si - first < 2 and (leans_back(texts[first]) or open_quote(texts[first - 1])):
        first -= 1
    return first


def _named_from(passage, first: int, si: int, kind: str | None, question: str) -> int:
    """After a person question, the quote of sentence si begins where a person it names by surname
    alone ("Yanai told reporters…") is named in full, when that is one or two sentences before."""
    if kind != "person":
        return first
    texts = passage.sentence_texts()
    for a, b in AT.spans(kind, texts[si], question):
        word = texts[si][a:b]
        if " " in word:
            continue
        for j in range(si - 1, max(-1, si - 3), -1):
            if any(texts[j][x:y].endswith(" " + word) for x, y in AT.spans(kind, texts[j], question)):
                return min(first, j)
    return first


def leans_back(sentence: str) -> bool:
    """Whether a sentence begins mid-thought ("But…", "That, at least…", "He…") and needs the one before."""
    return bool(_LEANS.match(sentence.lstrip("\"“‘'(")))


def open_quote(sentence: str) -> bool:
    """Whether a quotation opened in the sentence is still open at its end (the next sentence goes on
    quoting): the straight double quotes are odd in number, or a “ outnumbers the ”."""
    return sentence.count('"') % 2 == 1 or sentence.count("“") > sentence.count("”")
