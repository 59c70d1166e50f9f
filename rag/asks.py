"""What a question asks for: the expected answer type (a person, a date, an amount, a rate, a place, an
organisation), whether only that type will do, the role a person question names, and what a "how
many" question counts. Pure functions on strings; no model. Where a sentence holds such an answer is
rag.answer_types.
"""
from __future__ import annotations

import re

# Function words: not evidence that a sentence answers a question ("what", "did", "would"…).
STOP = frozenset("""a an the of to in on at by for from with about as into over after before during between
    what which who whom whose when where why how did do does done was were is are be been being has have had
    would will could should can may might must shall this that these those it its his her their there than
    then and or but not no if so such any some s said say says tell told according""".split())
# Nouns that name a person by role: a question about one wants a person; a sentence may describe one.
ROLE_NOUNS = (r"minister|official|diplomat|leader|president|premier|general|admiral|spokes(?:man|woman|person)|"
               r"deputy|head|chief|director|envoy|ambassador|officer|attach[eé]|commander|secretary|analyst|"
               r"researcher|agent|spy|person|man|woman|politician|chairman|governor|mayor|king|emperor")
# The words of a noun phrase between "which" and its noun: not a verb ("which agency does he head").
_FILL = r"(?:(?!(?:is|are|was|were|do|does|did|has|have|had|will|would|can|could|should|may|might)\b)\w+ )"
_PERSON_Q = re.compile(rf"\b(?:name of the|which|what) {_FILL}{{0,3}}?(?:{ROLE_NOUNS})s?\b", re.I)   # "who": WHO
# The role a person question names: the last role noun of the phrase, its head ("which deputy foreign
# minister": a minister), before any function word ("which official met the president": an official).
_ROLE_Q = re.compile(rf"(?:\b(?:name of the|which|what)|^\s*whom? (?:is|was|were|are|became) the) "
                     rf"(?:(?!(?:{'|'.join(sorted(STOP))})\b)[\w'’-]+ ){{0,3}}({ROLE_NOUNS})s?\b", re.I)
_DATE_Q = re.compile(r"^\s*when\b|\b(?:what|which|in what|on what) (?:\w+ )?(?:year|date|day|month|time)\b|\bby when\b"
                     r"|\bhow long ago\b", re.I)
_AMOUNT_Q = re.compile(r"\bhow (?:many|much|long|far|big|large|old|heavy|fast|high)\b|\bwhat (?:\w+ ){0,3}?(?:percentage|"
                       r"percent|share|amount|number|sum|rate|size|tonnage|price|cost|value|figure|total)\b", re.I)
# A rate asked for: "percentage", or "rate"/"share" as a noun ("what interest rate", "the share of"), not
# as a verb ("how did Komura rate the chances", "do they share").
_PERCENT_Q = re.compile(r"(?<!-)\b(?:percentage|percent|per cent)\b|\b(?:the|a|an|what|which|its|their|his|her|"
                        r"this|that|whose)\s+(?:(?!(?:did|does|do|to|would|will|could|can|should|might|may)\b)"
                        r"[\w-]+\s+){0,2}?(?:rate|share)s?\b|\b(?:rate|share)s?\s+of\b", re.I)
_PLACE_Q = re.compile(rf"^\s*where\b|\b(?:which|what|in which|to which|at which) {_FILL}{{0,2}}?"
                      r"(?:island|city|cities|port|country|countries|region|town|base|place|prefecture|province|sea|"
                      r"location)s?\b", re.I)
_ORG_Q = re.compile(rf"\b(?:which|what) {_FILL}{{0,2}}?(?:organi[sz]ation|agenc(?:y|ies)|compan(?:y|ies)|"
                    r"institute|institution|bod(?:y|ies)|ministr(?:y|ies)|newspaper|part(?:y|ies)|bank|firm|"
                    r"universit(?:y|ies)|commission|committee|council|department|association|union|group)s?\b", re.I)
# A question that asks for a reason or a purpose (no span answers it; a sentence that gives a cause may).
_REASON_Q = re.compile(r"^\s*why\b|\bwhat (?:was|is|were|are) the (?:purpose|reason|aim|goal|cause)s?\b"
                       r"|\bfor what (?:reason|purpose)\b", re.I)
WHO = re.compile(r"^\s*(?:who|whom)\b", re.I)
NAMED = re.compile(r"\bname of\b|\bnamed\b|\bcalled\b", re.I)
_STRICT_Q = re.compile(r"^\s*(?:who|whom|when)\b|\bhow (?:many|much)\b|\b(?:what|which) (?:year|date|day|month)\b"
                       r"|\bname of\b|\bnamed\b", re.I)


def role(question: str) -> re.Pattern | None:
    """The role noun a person question asks about ("attache" in "the name of the Russian military
    attache who…"), as a pattern that finds it in a sentence; None when it names none."""
    m = _ROLE_Q.search(question)
    return re.compile(rf"\b{re.escape(m.group(1).lower().rstrip('eé'))}[eé]?s?\b", re.I) if m else None


def strict(question: str) -> bool:
    """Whether only an answer of the expected type will do: "who", "when", "how many", "what year", a
    rate. After "which minister…" or "which island…" a description can answer too ("the air force chief")."""
    rate = _PERCENT_Q.search(question)               # a share may be "half": not only a figure answers it
    return bool(_STRICT_Q.search(question) or rate and "share" not in rate.group().lower())


def expected_type(question: str) -> str | None:
    """What the question asks for: "person", "date", "amount", "percent", "place", "org", "reason" (a
    cause or a purpose: no span is the answer, but a sentence that gives one may be), or None (a
    description, a manner)."""
    for kind, rx in (("percent", _PERCENT_Q), ("amount", _AMOUNT_Q), ("date", _DATE_Q)):
        if rx.search(question):
            return kind
    if WHO.match(question):
        return "person"
    # "which Japanese Defense Agency head": the phrase's last noun is its head, so the match that ends last
    found = [(m.end(), kind) for kind, rx in (("place", _PLACE_Q), ("org", _ORG_Q), ("person", _PERSON_Q))
             if (m := rx.search(question))]
    return max(found)[1] if found else "reason" if _REASON_Q.search(question) else None


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
