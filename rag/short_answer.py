"""The short answer: the name, date or figure a question asks for, verbatim from one of the quoted
sentences, found by the answer type's patterns (rag.answer_types) and the question's words around it.

Pure: works on strings, with the keyword index's tokenizer and idfs passed in. The span chosen is the
one with the most question evidence close by: each question term found near it adds its idf, less the
further away it is, and only terms on the same side of a bracket count (an aside answers its own
question: "On May 16 Rodionov (dismissed on May 22) arrived", asked when he arrived, is May 16). It is
shown only from a quote that holds a fair share of the question's weight. Chosen on the dev set
(docs/BENCHMARKS.md, "The short answer").
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from . import answer_types as AT

MIN_SHARE = 0.3      # the quote holds at least this share of the question terms' idf
DECAY = 3.0          # characters: a term this far from the span counts half (idf / (1 + distance / DECAY))
KINDS = frozenset({"person", "date", "amount", "percent", "place", "org"})   # not "reason": no span is one
_NEGATED = re.compile(r"\b(?:not|never|no longer)\b|n[’']t\b", re.I)   # before a span in its clause
_WORD = re.compile(r"[\w’'.-]+")

Span = tuple[int, int]


def choose(question: str, kind: str | None, texts: list[str], *, tokenize: Callable[[str], list[str]],
           idfs: Callable[[list[str]], Sequence[float]] | None = None) -> tuple[int, Span] | None:
    """(index of the quote, span in it) of the short answer among the quoted `texts`, or None when
    none holds a span of `kind` with the question's words near it. `idfs` weighs the question's terms
    (each 1 without it); it is asked only when a short answer can be."""
    if kind not in KINDS:
        return None
    distinct = sorted(set(tokenize(question)))
    terms = dict(zip(distinct, idfs(distinct) if idfs else [1.0] * len(distinct)))
    total = sum(terms.values())
    if not total:
        return None
    heads = {t[:3] for t in terms}         # a stem begins like its word: only those words are tokenized
    best: tuple[float, int, Span] | None = None
    for i, text in enumerate(texts):
        words = [(m.start(), m.end(), t) for m in _WORD.finditer(text) if m.group()[:3].lower() in heads
                 for t in tokenize(m.group()) if t in terms]
        if sum(terms[t] for t in {w[2] for w in words}) < MIN_SHARE * total:
            continue
        level = _levels(text)
        for a, b in AT.spans(kind, text, question):
            if _NEGATED.search(re.split(r"[,;:()–—]", text[max(0, a - 40):a])[-1]):
                continue                  # "will not take place this year, but in 2001": not this year
            near: dict[str, float] = {}
            for x, y, t in words:
                if not a <= x < b and level[x] == level[a]:
                    near[t] = max(near.get(t, 0.0), terms[t] / (1 + max(a - y, x - b, 0) / DECAY))
            score = sum(near.values())
            if score > 0 and (best is None or score > best[0]):
                best = (score, i, (a, b))
    return (best[1], best[2]) if best else None


def _levels(text: str) -> list[int]:
    """For each character, which bracketed aside it is in (0: none; each pair numbered in order)."""
    out, open_, n = [], [], 0
    for ch in text:
        if ch == "(":
            n += 1
            open_.append(n)
        out.append(open_[-1] if open_ else 0)
        if ch == ")" and open_:
            open_.pop()
    return out
