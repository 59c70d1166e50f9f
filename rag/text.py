"""Pure text functions: blocks, cleaning, sentence spans, token-bounded pieces. No I/O."""
from __future__ import annotations

import re
from typing import Callable

_BLOCK = re.compile(r"(?:[^\n]*\S[^\n]*(?:\n|$))+")
_INVISIBLE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u2064\u2066-\u2069\ufeff\ufffe\U000e0000-\U000e007f]")
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ESCAPE = re.compile(r"\\([\\$*_`#\[\](){}.!+\-])")
_SPACE = re.compile(r"\s+")
_TERMINAL = ".!?:;\"”’)]…'"
_DATED = re.compile(r"^\s*(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}\b"
                    r"|\d{4}-\d{2}-\d{2}\b)[^:\n]{0,40}:\s")

# Abbreviations after which a period does not end a sentence.
_ABBREV = {"mr", "mrs", "ms", "dr", "prof", "gen", "col", "lt", "sgt", "capt", "adm", "gov", "sen", "rep",
           "st", "jr", "sr", "vol", "no", "nos", "pp", "p", "fig", "figs", "eq", "al", "etc", "vs", "cf",
           "e.g", "i.e", "inc", "ltd", "co", "corp", "dept", "univ", "approx", "ca", "jan", "feb", "mar",
           "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "op"}
_SENT_END = re.compile(r"[.!?…]+[\"”’')\]]*(?=\s+[\"“‘'(\[]?[A-Z0-9])")


def normalize_newlines(text: str) -> str:
    """The canonical source text: BOM dropped, CRLF and CR turned into LF. Offsets index into this."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def blocks(text: str) -> list[tuple[int, int]]:
    """Spans of maximal runs of non-blank lines, trimmed of surrounding whitespace."""
    spans = []
    for m in _BLOCK.finditer(text):
        a, b = m.start(), m.end()
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            spans.append((a, b))
    return spans


def clean(s: str) -> str:
    """Displayed text: invisible characters, markdown emphasis and escapes removed, whitespace collapsed."""
    s = _INVISIBLE.sub("", s)
    s = _EMPHASIS.sub(r"\2", s)
    s = _ESCAPE.sub(r"\1", s)
    return _SPACE.sub(" ", s).strip()


def clean_map(s: str) -> tuple[str, list[int]]:
    """clean(s) together with, for each output character, its index in s (plus len(s) as sentinel)."""
    drop = bytearray(len(s))
    for m in _INVISIBLE.finditer(s):
        drop[m.start()] = 1
    for m in _EMPHASIS.finditer(s):
        w = len(m.group(1))
        drop[m.start():m.start() + w] = b"\x01" * w
        drop[m.end() - w:m.end()] = b"\x01" * w
    for m in _ESCAPE.finditer(s):
        drop[m.start()] = 1
    out, where, prev_space = [], [], True
    for i, ch in enumerate(s):
        if drop[i]:
            continue
        if ch.isspace():
            if not prev_space:
                out.append(" ")
                where.append(i)
            prev_space = True
            continue
        out.append(ch)
        where.append(i)
        prev_space = False
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    text = "".join(out)
    assert text == clean(s), "clean_map disagrees with clean"
    return text, where + [len(s)]


def is_terminal(s: str) -> bool:
    return bool(s) and s.rstrip()[-1:] in _TERMINAL


def is_heading(block: str) -> bool:
    """A short single line without closing punctuation, e.g. 'Peace Treaty Prospects Remain Dim'."""
    line = block.strip()
    if "\n" in line or not line:
        return False
    if line.startswith("#"):
        return True
    line = re.sub(r"(?:[A-Z]\.){2,}$", "", clean(line)).rstrip()   # 'Policy Implications for the U.S.'
    return (len(line) <= 90 and len(line.split()) <= 12 and not is_terminal(line)
            and not line.endswith(",") and line[:1].isupper())


def dated_lines(block: str) -> bool:
    """True when every line of a multi-line block starts a dated entry ('Aug 16, 1999: …')."""
    lines = [ln for ln in block.split("\n") if ln.strip()]
    return len(lines) >= 2 and all(_DATED.match(ln) for ln in lines)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans in cleaned text. Trailing source notes like '(Itar-Tass, May 29)' stay attached."""
    spans, start = [], 0
    for m in _SENT_END.finditer(text):
        word = text[:m.start() + 1].rsplit(None, 1)[-1].rstrip(".").lower().lstrip("(\"“‘'")
        if word in _ABBREV or re.fullmatch(r"(?:[a-z]\.)*[a-z]", word):
            continue        # "Gen." "U.S." "J." do not end sentences
        spans.append((start, m.end()))
        start = m.end() + 1
        while start < len(text) and text[start] == " ":
            start += 1
    if start < len(text):
        spans.append((start, len(text)))
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and text[a] == "(" and text[b - 1] in ").":   # a bare parenthetical source note
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def pieces(text: str, count: Callable[[str], int], limit: int) -> list[tuple[int, int]]:
    """Spans of `text` covering it in order, each within `limit` tokens, cut at sentence boundaries
    (or, for a single over-long sentence, at word boundaries)."""
    if count(text) <= limit:
        return [(0, len(text))]
    units: list[tuple[int, int]] = []
    for a, b in split_sentences(text):
        units.extend(_word_windows(text, a, b, count, limit) if count(text[a:b]) > limit else [(a, b)])
    out: list[tuple[int, int]] = []
    for a, b in units:
        if out and count(text[out[-1][0]:b]) <= limit:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _word_windows(text: str, a: int, b: int, count, limit: int) -> list[tuple[int, int]]:
    words = [(m.start() + a, m.end() + a) for m in re.finditer(r"\S+", text[a:b])]
    out: list[tuple[int, int]] = []
    for wa, wb in words:
        if out and count(text[out[-1][0]:wb]) <= limit:
            out[-1] = (out[-1][0], wb)
        else:
            out.append((wa, wb))   # a single word over the limit stays whole; the model truncates it
    return out
