"""Sentence segmentation: text -> sentence spans. Pure and linear in the text's length.

A rule-based splitter in the manner of pySBD's "golden rules" (abbreviations, initials, inline lists,
ellipses), written for speed: one regex pass finds the candidate ends, and each is judged by the
word before it and the word after it. Where a rule is unsure it does not cut: a sentence that runs
on is a longer quote, but a sentence cut in the middle is a broken one.
"""
from __future__ import annotations

import re
from typing import NamedTuple

_OPENERS = "\"“‘'([«¿¡"
_CLOSERS = "\"”’'»)]"
_BULLETS = "•⁃▪◦‣∙"
# A run of terminal punctuation (dots may be spaced, as in ". . ."), its closing quotes and brackets,
# then whitespace and a word that could start a sentence (a capital or a digit). Dots
# inside a word ("U.S.A", "3.5", "site.html") are not followed by space. Each regex starts with a
# character class, which the engine scans for fast: the splitter runs over every passage of a build.
_END = re.compile(r"[.!?…‼⁇⁈⁉](?:[ ]?[.!?…‼⁇⁈⁉])*[" + re.escape(_CLOSERS) + r"]*(?=\s+(?:["
                  + re.escape(_OPENERS) + r"]*[^\W_a-z]))")
_CJK_END = re.compile(r"[。！？]+[」』）\"”’]*")
# The dot or bracket of an inline list marker ("1." "2)" "3.)" "a."), preceded by its label and then a
# space, a bullet or the start of the text (a label is checked by the lookbehinds, after the fast scan).
_LABEL_BEFORE = [rf"(?<={pre}{label}[.)])" for pre in (rf"[\s{_BULLETS}]", "^")
                 for label in (r"\d", r"\d\d", r"\d\d\d", "[a-z]")]
_MARKER = re.compile(r"[.)](?:" + "|".join(_LABEL_BEFORE) + r")\)?(?=\s)")
_INITIALS = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")     # "E" "U.S" "a.m": initials, not "ε" or "3"

# Abbreviations that come before a name or a number and never end a sentence.
PREPOSITIVE = frozenset("""mr mrs ms messrs dr prof gen col lt sgt capt cmdr adm maj gov sen rep pres hon rev
    fr st mt ft supt insp vs cf""".split())
# Abbreviations followed by a number ("No. 5", "p. 55", "Vol. 3"): they end a sentence only before a starter.
NUMBERED = frozenset("no nos n° nº p pp vol vols fig figs eq eqs art ch sec op nr tel ca approx para".split())
# Other abbreviations: a period after them ends the sentence only before a sentence starter.
ABBREVIATIONS = frozenset("""co corp inc ltd bros jr sr esq etc al dept univ assn govt intl natl est ave blvd rd
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun ph.d e.g i.e""".split())
NEVER_END = frozenset({"e.g", "i.e"})
# Capitalised words that begin sentences and rarely a name: after an abbreviation ("in the U.S. How
# about…") such a word says the abbreviation ended the sentence; any other ("the U.S. Government") not.
STARTERS = frozenset("""A After Also Although An And Another As At Because Being Both But By Despite Did During
    Each Even For From He Her Here His How However I If In Instead It Its Many Meanwhile Millions More Moreover
    Most Nevertheless No Nor Not Now On Only Our She Since So Some Still Such That The Their Then There Therefore
    These They This Those Thus To Until We What When Where Whether Which While Who Why With Yet You""".split())


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of `text`, in order, trimmed of whitespace; together they cover every
    non-space character. Trailing source notes like '(Itar-Tass, May 29)' stay attached."""
    cuts = set(_list_cuts(text, inside := set()))
    for m in _END.finditer(text):
        if m.start() not in inside:
            cut = _judge(text, m)
            if cut is not None:
                cuts.add(cut)
    cuts.update(m.end() for m in _CJK_END.finditer(text))
    spans, start = [], 0
    for cut in sorted(cuts) + [len(text)]:
        a, b = _trim(text, start, cut)
        if a < b:
            spans.append((a, b))
        start = max(start, cut)
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and text[a] == "(" and text[b - 1] in ").":   # a bare parenthetical source note
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _judge(text: str, m: re.Match) -> int | None:
    """Where the sentence ends for the candidate `m` (a cut position), or None if it does not end."""
    nxt = _next_word(text, m.end())
    if not (nxt[:1].isupper() or nxt[:1].isdigit()):
        return None          # a lower-case word (a non-ASCII one passes the regex): no cut here
    punct = m.group(0)
    w = m.start()
    while w > 0 and not text[w - 1].isspace():
        w -= 1
    word = text[w:m.start()].lstrip(_OPENERS)
    dots = len(punct) - len(punct.lstrip(". "))
    if not word and (punct[0] == "…" or punct[:dots].count(".") >= 3):   # a free-standing ellipsis:
        return m.end() if punct[:dots].count(".") >= 4 else None   # ". . . I" runs on, ". . . . Next" ends
    if punct.startswith(". .") and punct[:dots].count(".") >= 4:
        return m.start() + 1               # "compounds. . . . The": the period ends, ". . ." begins the next
    if punct.rstrip(_CLOSERS) != ".":
        return m.end()                     # ! ? … or "...."
    return m.end() if _ends_at(word, nxt) else None   # also with a quote or bracket after the dot


def _ends_at(word: str, nxt: str) -> bool:
    """Whether a period after `word` ends the sentence, `nxt` being the (capitalised or numeric) next word."""
    low = word.lower()
    if len(word) > 1 and word.isalpha() and word.isupper():
        return True                             # an acronym ("in ED. Two…"), not "Ed." or "No."
    starter = nxt.rstrip(",;:") in STARTERS
    if low in PREPOSITIVE or low in NEVER_END:
        return False
    if low in NUMBERED:
        return not nxt[0].isdigit() and starter
    if low in ABBREVIATIONS or _INITIALS.fullmatch(word):
        return starter                          # "Co." "U.S." "E." "I.": only before "How", "They"…
    return True


def _next_word(text: str, i: int) -> str:
    """The word after position i, past whitespace and opening quotes or brackets ('' at the end)."""
    while i < len(text) and text[i].isspace():
        i += 1
    while i < len(text) and text[i] in _OPENERS:
        i += 1
    j = i
    while j < len(text) and not text[j].isspace():
        j += 1
    return text[i:j]


class _Marker(NamedTuple):
    start: int        # where the item begins (its bullet, or its label)
    dot: int          # where the marker's punctuation is
    label: str        # "1" or "a"
    key: tuple        # (bulleted, style, numeric): a list's markers all look alike


def _list_cuts(text: str, inside: set[int]):
    """Cuts before the items of inline lists ("1) One 2) Two", "a. The x b. The y", "• 9. X • 10. Y"),
    and the positions of the markers' own dots (added to `inside`), so that "1." ends no sentence."""
    runs: dict[tuple, list[_Marker]] = {}
    for m in _MARKER.finditer(text):
        if not _next_word(text, m.end())[:1].isupper():
            continue             # "if: 1) they were…; 2) …" is one sentence, and "chapter 2. covers" no list
        mark = _marker(text, m)
        runs.setdefault(mark.key, []).append(mark)
    for (bulleted, _, numeric), marks in runs.items():
        for chain in _chains(marks):
            first = chain[0]
            if len(chain) < 2 and not (first.start == 0 and numeric):
                continue
            if not (bulleted or _before(text, first.start) in ("", ":", ";", ".", "!", "?")):
                continue         # "Appendix Table 1. What… Table 2. USPSTF…" is no list
            for mark in chain:
                inside.add(mark.dot)
                if mark.start > 0:
                    yield mark.start
    for i in (m.start() for m in re.finditer(f"[{_BULLETS}]", text)):
        if i > 0 and text[i - 1].isspace():
            yield i              # "• first • second"


def _marker(text: str, m: re.Match) -> _Marker:
    dot = label = m.start()
    while label > 0 and text[label - 1].isdigit():
        label -= 1
    label = label if label < dot else dot - 1          # no digits: a one-letter label
    start = label
    if start >= 2 and text[start - 1] == " " and text[start - 2] in _BULLETS:
        start -= 2                                      # "• 9."
    elif start >= 1 and text[start - 1] in _BULLETS:
        start -= 1                                      # "⁃9."
    name = text[label:dot]
    return _Marker(start, dot, name, (start < label, m.group(0), name.isdigit()))


def _chains(marks: list[_Marker]) -> list[list[_Marker]]:
    """Maximal runs of markers whose labels count up by one (1, 2, 3 or a, b, c)."""
    chains: list[list[_Marker]] = []
    for mark in marks:
        if chains and _value(mark.label) == _value(chains[-1][-1].label) + 1:
            chains[-1].append(mark)
        else:
            chains.append([mark])
    return chains


def _value(label: str) -> int:
    return int(label) if label.isdigit() else ord(label) - ord("a") + 1


def _before(text: str, i: int) -> str:
    """The last non-space character before position i ('' at the start)."""
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return text[i - 1] if i else ""


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b
