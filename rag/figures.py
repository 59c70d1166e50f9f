"""Dates and figures in a sentence: the patterns of a date, an amount and a rate, and whether a figure
counts what a "how many" question counts. Pure functions on strings; no model. Used by
rag.answer_types to find the span a question asks for.
"""
from __future__ import annotations

import re

from .asks import STOP

MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_YEAR = r"(?:1[5-9]|20)\d\d"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
DATE = re.compile(rf"\b(?:{MONTH}\s+{_DAY}(?:\s*[-–]\s*(?:{MONTH}\s+)?{_DAY})?(?:,?\s+{_YEAR})?|{_DAY}\s+{MONTH}(?:\s+{_YEAR})?"
                  rf"|(?:early |late |mid-?)?{MONTH}\s+{_YEAR}|(?:the (?:year|end of|(?:first|second|third|fourth|last) (?:quarter|half) of) )?{_YEAR}s?"
                  rf"(?:\s*[-–]\s*\d{{2,4}})?"
                  rf"|(?:this|last|next) (?:past )?(?:{MONTH}|week|month|year|spring|summer|fall|autumn|winter)"
                  rf"|(?:January|February|March|April|June|July|August|September|October|November|December))\b")
_SCALES = r"million|billion|trillion|thousand|hundred|bn|m"
_SCALE = rf"(?:\s*(?:{_SCALES})\b)?"
_UNIT = (r"(?:[-\s]?(?:tons?|tonnes?|percent|per cent|%|km|kilometers?|kilometres?|miles?|meters?|metres?|feet|"
         r"troops|soldiers|people|persons|men|ships|vessels|aircraft|planes|islands|years?|months?|days?|hours?|"
         r"dollars|yen|rubles|roubles))?")
_NUMWORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
            r"hundred|thousand|dozen|several|a few)")
AMOUNT = re.compile(rf"(?:[$€£¥]\s?\d[\d,.]*{_SCALE}|\b\d[\d,.]*(?:\.\d+)?{_SCALE}{_UNIT}|\b{_NUMWORD}{_SCALE}{_UNIT})", re.I)
PERCENT = re.compile(r"\b\d[\d.,]*\s*(?:%|percent\b|per cent\b)", re.I)


def dates(s: str) -> list[tuple[int, int]]:
    return [m.span() for m in DATE.finditer(s)]


def rates(s: str) -> list[tuple[int, int]]:
    return [m.span() for m in PERCENT.finditer(s)]


def amounts(s: str) -> list[tuple[int, int]]:
    """Figures that are not part of a date ("$1.5 billion", "44", "two ships"; not the 16 of "May 16")."""
    within = dates(s)
    return [m.span() for m in AMOUNT.finditer(s)
            if m.group().strip() and not any(a <= m.start() < b for a, b in within)]


def counts_other(sentence: str, a: int, b: int, many: str) -> bool:
    """Whether the figure sentence[a:b] is no answer to "how many <many>": a rate, a time, a sum, a
    weight or a distance where the question counts something else ("20 percent", asked how many boats),
    or a count of something else ("the two sides", asked how many soldiers)."""
    return _measure(sentence[a:b]) not in (None, _measure(many)) or _counts_other(sentence, b, many)


# Measures: a figure in one of these units is a rate, a time, a sum, a weight or a distance, no count of
# anything else.
_MEASURES = tuple((name, re.compile(rx, re.I)) for name, rx in (
    ("percent", r"%|\bper ?cent\b"), ("time", r"\b(?:years?|months?|weeks?|days?|hours?)\b"),
    ("money", r"[$€£¥]|\b(?:dollars|yen|rubles|roubles)\b"), ("weight", r"\b(?:tons?|tonnes?)\b"),
    ("distance", r"\b(?:km|kilomet(?:er|re)s?|miles?|met(?:er|re)s?|feet)\b")))


def _counts_other(sentence: str, b: int, many: str) -> bool:
    """Whether the figure ending at b counts something the question does not: the words right after it,
    up to a function word or a mark, name none of what "how many" counts ("the two sides negotiated",
    asked how many soldiers; "two Japanese officials", asked how many officials, counts them)."""
    after = []
    for m in re.finditer(r"\s*([\w’'-]+)", sentence[b:b + 60]):
        if m.start() != sum(len(x) for x in after) or m.group(1).lower() in STOP or len(after) == 3:
            break
        after.append(m.group())
    counted = {w.lower()[:4] for w in many.split()}
    unit = re.search(r"[A-Za-z]+$", sentence[:b])                 # "two ships": the span's own noun
    if unit and not re.fullmatch(rf"{_NUMWORD}|{_SCALES}", unit.group(), re.I):
        after = [unit.group()]
    return bool(after) and not any(w.strip().lower()[:4] in counted for w in after)


def _measure(text: str) -> str | None:
    return next((name for name, rx in _MEASURES if rx.search(text)), None)
