"""What a question asks for, and where a sentence holds it: the expected answer type (person, amount,
date, place, organisation), typed spans found by regular expressions ("short answers"), and sentences
that begin mid-thought. Pure functions on strings; no model.
"""
from __future__ import annotations

import re

_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_YEAR = r"(?:1[5-9]|20)\d\d"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
DATE = re.compile(rf"\b(?:{_MONTH}\s+{_DAY}(?:\s*[-–]\s*(?:{_MONTH}\s+)?{_DAY})?(?:,?\s+{_YEAR})?|{_DAY}\s+{_MONTH}(?:\s+{_YEAR})?"
                  rf"|(?:early |late |mid-?)?{_MONTH}\s+{_YEAR}|(?:the (?:year|end of) )?{_YEAR}s?(?:\s*[-–]\s*\d{{2,4}})?"
                  rf"|(?:this|last|next) (?:past )?(?:{_MONTH}|week|month|year|spring|summer|fall|autumn|winter)"
                  rf"|(?:January|February|March|April|June|July|August|September|October|November|December))\b")
_SCALE = r"(?:\s*(?:million|billion|trillion|thousand|hundred|bn|m)\b)?"
_UNIT = (r"(?:[-\s]?(?:tons?|tonnes?|percent|per cent|%|km|kilometers?|kilometres?|miles?|meters?|metres?|feet|"
         r"troops|soldiers|people|persons|men|ships|vessels|aircraft|planes|islands|years?|months?|days?|hours?|"
         r"dollars|yen|rubles|roubles))?")
_NUMWORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
            r"hundred|thousand|dozen|several|a few)")
AMOUNT = re.compile(rf"(?:[$€£¥]\s?\d[\d,.]*{_SCALE}|\b\d[\d,.]*(?:\.\d+)?{_SCALE}{_UNIT}|\b{_NUMWORD}{_SCALE}{_UNIT})", re.I)
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
_NOT_NAME = re.compile(rf"^(?:{_MONTH}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|The|A|An|This|That|"
                       r"These|Those|It|He|She|They|We|I|In|On|At|By|For|But|And|If|As|According|During|After)$")
# Nouns that name a person by role: a question about one wants a person; a sentence may describe one.
_ROLE_NOUNS = (r"minister|official|diplomat|leader|president|premier|general|admiral|spokes(?:man|woman|person)|"
               r"deputy|head|chief|director|envoy|ambassador|officer|attach[eé]|commander|secretary|analyst|"
               r"researcher|agent|spy|person|man|woman|politician|chairman|governor|mayor|king|emperor")
# The words of a noun phrase between "which" and its noun: not a verb ("which agency does he head").
_FILL = r"(?:(?!(?:is|are|was|were|do|does|did|has|have|had|will|would|can|could|should|may|might)\b)\w+ )"
_PERSON_Q = re.compile(rf"^\s*(?:who|whom)\b|\b(?:name of the|which|what) {_FILL}{{0,3}}?(?:{_ROLE_NOUNS})s?\b", re.I)
# The role a person question names ("the name of the military attache…", "who is the head of…").
_ROLE_Q = re.compile(rf"(?:\b(?:name of the|which|what)|^\s*whom? (?:is|was|were|are|became) the) "
                     rf"(?:[\w'’-]+ ){{0,3}}?({_ROLE_NOUNS})s?\b", re.I)
_DATE_Q = re.compile(r"^\s*when\b|\b(?:what|which|in what|on what) (?:\w+ )?(?:year|date|day|month|time)\b|\bby when\b"
                     r"|\bhow long ago\b", re.I)
_AMOUNT_Q = re.compile(r"\bhow (?:many|much|long|far|big|large|old|heavy|fast|high)\b|\bwhat (?:\w+ ){0,3}?(?:percentage|"
                       r"percent|share|amount|number|sum|rate|size|tonnage|price|cost|value|figure|total)\b", re.I)
_DESCRIBED = re.compile(rf"\b(?:the|a|an|his|her|its|their)\s+((?:[\w-]+\s+){{0,3}}?(?:{_ROLE_NOUNS}))\b")
_PERCENT_Q = re.compile(r"(?<!-)\b(?:rate|percentage|percent|per cent|share)\b", re.I)
PERCENT = re.compile(r"\b\d[\d.,]*\s*(?:%|percent\b|per cent\b)", re.I)
_PLACE_Q = re.compile(rf"^\s*where\b|\b(?:which|what|in which|to which|at which) {_FILL}{{0,2}}?(?:island|city|port|"
                      r"country|region|town|base|place|prefecture|province|sea|location)s?\b", re.I)
_ORG_Q = re.compile(rf"\b(?:which|what) {_FILL}{{0,2}}?(?:organi[sz]ation|agency|company|institute|body|"
                    r"ministry|newspaper|party|bank|firm)s?\b", re.I)
# Openers of a sentence that leans on the one before: given with it, or not chosen.
_LEANS = re.compile(r"^(?:But|And|Or|Yet|So|Still|Thus|Hence|Therefore|Also|Moreover|Furthermore|Meanwhile|"
                    r"Nevertheless|Nonetheless|Instead|Indeed|However|Besides|Otherwise|Then|That|This|These|"
                    r"Those|Such|It|He|She|They|His|Her|Their|Its|There)\b|^(?:In addition|As a result|Even so|"
                    r"In turn|At least|For (?:this|that) reason)\b")


def expected_type(question: str) -> str | None:
    """What the question asks for: "person", "date", "amount", "place", "org", or None (a description,
    a reason, a manner: no single typed span answers it)."""
    for kind, rx in (("percent", _PERCENT_Q), ("amount", _AMOUNT_Q), ("date", _DATE_Q)):
        if rx.search(question):
            return kind
    if _WHO.match(question):
        return "person"
    # "which Japanese Defense Agency head": the phrase's last noun is its head, so the match that ends last
    found = [(m.end(), kind) for kind, rx in (("place", _PLACE_Q), ("org", _ORG_Q), ("person", _PERSON_Q))
             if (m := rx.search(question))]
    return max(found)[1] if found else None


# Words that name a role, a rank or a nationality before a name: "Japanese Foreign Minister Yohei Kono".
_ROLE = re.compile(r"^(?:Minister|President|Prime|Deputy|Vice|Foreign|Defen[cs]e|Finance|Trade|Secretary|General|"
                   r"Gen\.?|Chief|Director|Ambassador|Premier|Chairman|Admiral|Adm\.?|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|"
                   r"Col\.?|Colonel|Captain|Capt\.?|Commander|Governor|Mayor|Senator|Sen\.?|Spokes\w+|Emperor|"
                   r"King|Queen|First|Former|Acting|Chief|Head|Lt\.?|Sgt\.?|[A-Z]\w+(?:ian|ese|ish)|American|Korean|German)$")
_GENERIC = frozenset("year years month months day days week end early late mid million billion percent".split())
# Function words: not evidence that a sentence answers a question ("what", "did", "would"…).
STOP = frozenset("""a an the of to in on at by for from with about as into over after before during between
    what which who whom whose when where why how did do does done was were is are be been being has have had
    would will could should can may might must shall this that these those it its his her their there than
    then and or but not no if so such any some s said say says tell told according""".split())


_WHO = re.compile(r"^\s*(?:who|whom)\b", re.I)
_NAMED = re.compile(r"\bname of\b|\bnamed\b|\bcalled\b", re.I)
_STRICT_Q = re.compile(r"^\s*(?:who|whom|when)\b|\bhow (?:many|much)\b|\b(?:what|which) (?:year|date|day|month)\b"
                       r"|\bname of\b|\bnamed\b"
                       r"|\b(?:rate|percentage|percent)\b", re.I)


def role(question: str) -> re.Pattern | None:
    """The role noun a person question asks about ("attache" in "the name of the Russian military
    attache who…"), as a pattern that finds it in a sentence; None when it names none."""
    m = _ROLE_Q.search(question)
    return re.compile(rf"\b{re.escape(m.group(1).lower().rstrip('eé'))}[eé]?s?\b", re.I) if m else None


def strict(question: str) -> bool:
    """Whether only an answer of the expected type will do: "who", "when", "how many", "what year", a
    rate. After "which minister…" or "which island…" a description can answer too ("the air force chief")."""
    return bool(_STRICT_Q.search(question))


def spans(kind: str | None, sentence: str, question: str) -> list[tuple[int, int]]:
    """Spans of `sentence` that hold an answer of `kind` the question does not already give (a name
    less its titles, and none of whose words the question uses). After a plain "who", a person
    described ("the military attache") answers as well as a name; "the name of…" wants the name."""
    if kind is None:
        return []
    asked, many = set(re.findall(r"\w+", question.lower())), counted(question)
    if kind == "person" and _WHO.match(question) and not _NAMED.search(question):
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
        if kind == "amount" and many and _measure(sentence[a:b]) not in (None, _measure(many)):
            continue                    # "how many boats": not "20 percent", "five years" or "$1.5 billion"
        words = {w.lower() for w in re.findall(r"\w+", sentence[a:b])} - STOP - _GENERIC
        if not asked & words and (words or kind == "date"):      # "this year" is a date of generic words
            out.append((a, b))
    return out


# Measures: a figure in one of these units is a rate, a time, a sum, a weight or a distance, no count of
# anything else.
_MEASURES = tuple((name, re.compile(rx, re.I)) for name, rx in (
    ("percent", r"%|\bper ?cent\b"), ("time", r"\b(?:years?|months?|weeks?|days?|hours?)\b"),
    ("money", r"[$€£¥]|\b(?:dollars|yen|rubles|roubles)\b"), ("weight", r"\b(?:tons?|tonnes?)\b"),
    ("distance", r"\b(?:km|kilomet(?:er|re)s?|miles?|met(?:er|re)s?|feet)\b")))


def counted(question: str) -> str:
    """What a "how many" question counts: the words after it, up to a function word ("how many Japanese
    fishing boats did…" → "Japanese fishing boats"); "" for any other question."""
    m = re.search(r"\bhow many\s+(.*)", question, re.I)
    words = []
    for w in re.findall(r"[\w'’-]+", m.group(1)) if m else []:
        if w.lower() in STOP:
            break
        words.append(w)
    return " ".join(words)


def _measure(text: str) -> str | None:
    return next((name for name, rx in _MEASURES if rx.search(text)), None)


def _candidates(kind: str, s: str) -> list[tuple[int, int]]:
    if kind == "date":
        return [m.span() for m in DATE.finditer(s)]
    if kind == "percent":
        return [m.span() for m in PERCENT.finditer(s)]
    if kind == "amount":
        dates = [m.span() for m in DATE.finditer(s)]
        return [m.span() for m in AMOUNT.finditer(s) if m.group().strip()
                and not any(a <= m.start() < b for a, b in dates)]
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
    """Spans of capitalised runs, cut after a possessive: "Foreign Ministry’s | Takekazu Kawamura"."""
    for m in NAME.finditer(s):
        a = m.start()
        for p in re.finditer(r"[’']s\b", m.group()):
            yield a, m.start() + p.end()
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


def leans_back(sentence: str) -> bool:
    """Whether a sentence begins mid-thought ("But…", "That, at least…", "He…") and needs the one before."""
    return bool(_LEANS.match(sentence.lstrip("\"“‘'(")))


def open_quote(sentence: str) -> bool:
    """Whether a quotation opened in the sentence is still open at its end (the next sentence goes on
    quoting): the straight double quotes are odd in number, or a “ outnumbers the ”."""
    return sentence.count('"') % 2 == 1 or sentence.count("“") > sentence.count("”")
