"""Where a sentence holds the answer a question asks for (rag.asks): typed spans, found by regular
expressions, of a person's name less its titles, a date, an amount, a rate, a place or an organisation
that the question does not already give. Pure functions on strings; no model.
"""
from __future__ import annotations

import re
from functools import lru_cache

from . import figures as F
from .asks import NAMED, ROLE_NOUNS, STOP, WHO, counted

_CAP = r"[A-Z][\w’'.-]*[\w]"
NAME = re.compile(rf"\b{_CAP}(?:\s+(?:(?:de|von|van|al|bin|la)\s+)?{_CAP})*")
# Words that make a capitalised run an organisation or a place, not a person (generic English, not a
# list of this corpus's names).
_ORG = re.compile(r"\b(?:Ministry|Agency|Commission|Committee|Council|Foundation|Institute|University|Party|"
                  r"Forces?|Army|Navy|Department|Office|Bank|Union|Federation|Republic|Corporation|Company|"
                  r"Association|Organi[sz]ation|Administration|Government|Parliament|Diet|Duma|Assembly|Court|"
                  r"Station|Fleet|Academy|Center|Centre|Service|Bureau|Group|Times|News|Press|Post)\b")
_PLACE = re.compile(r"\b(?:Islands?|Sea|Ocean|Strait|Bay|Peninsula|River|Mountains?|City|Province|Prefecture|"
                    r"Region|Territor(?:y|ies)|Port|Base|Harbou?r|Gulf|Lake|Coast)\b")
_NOT_NAME = re.compile(rf"^(?:{F.MONTH}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|The|A|An|This|That|"
                       r"These|Those|It|He|She|They|We|I|In|On|At|By|For|But|And|If|As|According|During|After|"
                       r"One|Two|Three|Four|Five|Six|Seven|Eight|Nine|Ten|Eleven|Twelve|Twenty|Hundred|Thousand)$")
_DESCRIBED = re.compile(rf"\b(?:the|a|an|his|her|its|their)\s+((?:[\w-]+\s+){{0,3}}?(?:{ROLE_NOUNS}))\b")


# Words that name a role, a rank or a nationality before a name: "Japanese Foreign Minister Yohei Kono".
_ROLE = re.compile(r"^(?:Minister|President|Prime|Deputy|Vice|Foreign|Defen[cs]e|Finance|Trade|Secretary|General|"
                   r"Gen\.?|Chief|Director|Ambassador|Premier|Chairman|Admiral|Adm\.?|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|"
                   r"Col\.?|Colonel|Captain|Capt\.?|Commander|Governor|Mayor|Senator|Sen\.?|Spokes\w+|Emperor|"
                   r"King|Queen|First|Former|Acting|Chief|Head|Lt\.?|Sgt\.?|[A-Z]\w+(?:ian|ese|ish)|American|Korean|German)$")
_GENERIC = frozenset("year years month months day days week end early late mid million billion percent".split())


def spans(kind: str | None, sentence: str, question: str) -> list[tuple[int, int]]:
    """Spans of `sentence` that hold an answer of `kind` the question does not already give (a name
    less its titles, and none of whose words the question uses). After a plain "who", a person
    described ("the military attache") answers as well as a name; "the name of…" wants the name."""
    return list(_spans(kind, sentence, question)) if kind is not None else []


@lru_cache(maxsize=64)      # one answer asks about its sentences two or three times; no more is kept
def _spans(kind: str, sentence: str, question: str) -> tuple[tuple[int, int], ...]:
    asked, many = set(re.findall(r"\w+", question.lower())), counted(question)
    if kind == "person" and WHO.match(question) and not NAMED.search(question):
        kind = "someone"
    out = []
    for a, b in _candidates(kind, sentence):
        if kind in ("person", "someone"):
            words = sentence[a:b].split()
            while len(words) > 1 and _ROLE.match(words[0]):
                a += len(words.pop(0)) + 1
            if _ROLE.match(words[0]):
                continue
        if kind == "date" and "year" in asked and not re.search(r"\d{4}", sentence[a:b]):
            continue                    # "what year": a year, not "this year"
        if kind == "amount" and many and F.counts_other(sentence, a, b, many):
            continue                    # "how many boats": not "20 percent", "$1.5 billion" or "the two sides"
        words = {w.lower() for w in re.findall(r"\w+", sentence[a:b])} - STOP - _GENERIC
        if kind in ("org", "place"):    # "which institute…?": "National Institute" may answer it
            words = {w for w in words if not (_ORG.fullmatch(w.capitalize()) or _PLACE.fullmatch(w.capitalize()))}
        if not asked & words and (words or kind in ("date", "reason")):   # "this year", "so that": generic words
            out.append((a, b))
    return tuple(out)


# Words that give a cause or a purpose (generic English connectives).
_REASON = re.compile(r"\b(?:because|due to|owing to|thanks to|in order to|so that|so as to|aimed at|as a result|"
                     r"caused by|leads? to|led to|in the wake of|in hopes? (?:of|that)|in response to|in protest|"
                     r"for fear|on the (?:basis|grounds) of|reasons?|purpose)\b", re.I)


def _candidates(kind: str, s: str) -> list[tuple[int, int]]:
    if kind == "reason":
        return [m.span() for m in _REASON.finditer(s)]
    if kind == "date":
        return F.dates(s)
    if kind == "percent":
        return F.rates(s)
    if kind == "amount":
        return F.amounts(s)
    names = []
    for m in _runs(s):
        a, b = m
        words = s[a:b].split()
        while words and _NOT_NAME.match(words[0].rstrip(".")):      # "The", "In" that open a sentence
            a += len(words.pop(0)) + 1
        if words:
            names.append((a, b, " ".join(words)))
    if kind == "person":
        return [(a, b) for a, b, t in names if not _ORG.search(t) and not _PLACE.search(t)
                and not re.search(r"(?:ian|ese|ish)$", t) and not t.isupper()
                and (" " in t or _titled(s, a) or _speaks(s, b))]
    if kind == "someone":       # "who…?": a name, or a person described ("the military attache")
        return _candidates("person", s) + [m.span(1) for m in _DESCRIBED.finditer(s)]
    if kind == "place":
        return [(a, b) for a, b, t in names if not _ORG.search(t) and (_PLACE.search(t) or _located(s, a))]
    return [(a, b) for a, b, t in names if _ORG.search(t) or (t.isupper() and len(t) > 1)]


def _runs(s: str):
    """Spans of capitalised runs. A possessive inside a run is a modifier, and what follows it is the
    name ("the Foreign Ministry’s Takekazu Kawamura", "the Defense Agency’s National Institute"); a run
    that ends with one is the owner's name, less the "’s" ("Yoshiro Mori’s visit")."""
    for m in NAME.finditer(s):
        a = m.start()
        for p in re.finditer(r"[’']s\b", m.group()):
            if m.start() + p.end() == m.end():
                yield a, m.start() + p.start()
            a = m.start() + p.end() + 1
        if a < m.end():
            yield a, m.end()


_TITLE_BEFORE = re.compile(r"(?:minister|president|premier|chief|director|spokes\w+|deputy|general|gen\.|admiral|"
                           r"counterpart|colleague|successor|predecessor|adm\.|mr\.|mrs\.|ms\.|dr\.|envoy|"
                           r"ambassador|secretary|head|commander|chairman|colonel|col\.|captain|capt\.|leader|"
                           r"official|aide)\W{0,3}$", re.I)
_SAYS_AFTER = re.compile(r"\W{0,3}(?:said|says|told|added|noted|remarked|stated|announced|explained|warned|"
                         r"argued|declared|insisted)\b")
_AT_BEFORE = re.compile(r"\b(?:in|at|to|from|near|off|of|on)\s+(?:the\s+)?$")


def _titled(s: str, a: int) -> bool:
    """A single capitalised word that follows a title or a role ("minister Ikeda", "Gen. Ivashov")."""
    return bool(_TITLE_BEFORE.search(s, max(0, a - 16), a))


def _speaks(s: str, b: int) -> bool:
    """A capitalised word followed by a verb of saying ("Numata said", "Yanai told reporters")."""
    return bool(_SAYS_AFTER.match(s, b, b + 14))


def _located(s: str, a: int) -> bool:
    return bool(_AT_BEFORE.search(s, max(0, a - 9), a))
